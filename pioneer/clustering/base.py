"""The verbs every clusterer speaks, and the parameter plumbing every Pioneer estimator shares.

A clusterer learns from one embedding at a time and assigns an embedding to a cluster id. Parameters are the
constructor's keyword arguments, stored under the same names, so ``get_params``, ``clone`` and ``repr`` need
no per-class code (as scikit-learn's ``BaseEstimator`` and River's ``Base`` do).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Any, Self

import numpy as np


class ParamsMixin:
    """``get_params``, ``clone`` and a repr read from the ``__init__`` signature."""

    @classmethod
    def _param_names(cls) -> list[str]:
        params = inspect.signature(cls.__init__).parameters.values()
        names = []
        for p in params:
            if p.name == "self":
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise RuntimeError(f"{cls.__name__}.__init__ must take explicit keyword arguments, not *args/**kwargs")
            names.append(p.name)
        return names

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments this object was built with."""
        return {name: getattr(self, name) for name in self._param_names()}

    def clone(self, **changes: Any) -> Self:
        """A fresh, unfitted copy with the same parameters, except ``changes``."""
        unknown = set(changes) - set(self._param_names())
        if unknown:
            raise ValueError(f"unknown parameter(s) for {type(self).__name__}: {sorted(unknown)}")
        return type(self)(**{**self.get_params(), **changes})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class Clusterer(ParamsMixin, ABC):
    """An online clusterer of embeddings."""

    @abstractmethod
    def learn_one(self, x: np.ndarray, **kwargs: Any) -> Self:
        """Update the clusters with one embedding (never modifying it) and return ``self``."""

    @abstractmethod
    def assign_one(self, x: np.ndarray) -> int | None:
        """Id of the cluster ``x`` belongs to, or ``None`` when it is an outlier."""
