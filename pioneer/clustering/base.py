"""The verbs every clusterer speaks: learn from one embedding at a time, assign an embedding to a cluster id."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Self

import numpy as np

from pioneer.base import ParamsMixin


class Clusterer(ParamsMixin, ABC):
    """An online clusterer of embeddings."""

    @abstractmethod
    def learn_one(self, x: np.ndarray, **kwargs: Any) -> Self:
        """Update the clusters with one embedding (never modifying it) and return ``self``."""

    @abstractmethod
    def assign_one(self, x: np.ndarray) -> int | None:
        """Id of the cluster ``x`` belongs to, or ``None`` when it is an outlier."""
