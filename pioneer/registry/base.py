"""The model registry interface: immutable versions, named aliases with a history, stored datasets.

Written interface-first, as MLflow's ``AbstractStore`` for its model registry: every verb is documented here
and a backend (``FileRegistry`` today; a database or a remote store later) implements all of them. Versions
are named by a content hash of what the adapter saved, so one name always means the same weights (serving
caches keyed by version can never go stale), and registering the same weights twice is harmless.

Aliases (``production``, ``candidate``, ...) are the only mutable thing. Each move is appended to a history
that is never rewritten, which is what answers "which version served when" and what rollback replays.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pioneer.events import AliasMove
from pioneer.registry.records import (
    AliasRecord,
    MoveKind,
    StoredEvaluation,
    VersionInfo,
    VersionManifest,
)
from pioneer.training.base import Example, TaskAdapter

ANY_VERSION = "*"
"""``move_alias(expected_from=ANY_VERSION)``: move whatever the alias points at now."""


class Registry(ABC):
    """Abstract model registry. Every failure raises :class:`~pioneer.registry.RegistryError` with a code."""

    # ------------------------------------------------------------------------------------------- versions

    @abstractmethod
    def register_version(
        self,
        model: str,
        adapter: TaskAdapter,
        info: VersionInfo,
        *,
        evaluations: Mapping[str, StoredEvaluation] | None = None,
    ) -> VersionManifest:
        """Save ``adapter``'s weights and config as a new immutable version of ``model`` and return its manifest.

        The version id is ``sha256-<hex>`` over the saved files. If that version exists already, nothing is
        written and the existing manifest is returned (idempotent). Either the whole version (weights,
        manifest, evaluations) becomes visible at once, or nothing does. A gate report in ``info`` without a
        ``candidate_version`` gets the new version id filled in.
        """

    @abstractmethod
    def get_manifest(self, model: str, version: str) -> VersionManifest:
        """The manifest of ``version``; ``RESOURCE_DOES_NOT_EXIST`` if there is none."""

    @abstractmethod
    def load_adapter(self, model: str, version: str) -> TaskAdapter:
        """Load the adapter of ``version`` from its saved files (safetensors; never pickle)."""

    @abstractmethod
    def version_path(self, model: str, version: str) -> Path:
        """Where the adapter files of ``version`` live (for serving processes that load it themselves)."""

    @abstractmethod
    def get_evaluation(self, model: str, version: str, name: str) -> StoredEvaluation | None:
        """What ``version`` scored on its named evaluation (``gate``, ...) when it was registered, or None."""

    @abstractmethod
    def list_models(self) -> list[str]:
        """Names of every model with at least one version, sorted."""

    @abstractmethod
    def list_versions(self, model: str) -> list[VersionManifest]:
        """Manifests of every version of ``model``, oldest first."""

    # ------------------------------------------------------------------------------------------- datasets

    @abstractmethod
    def put_dataset(self, model: str, examples: Sequence[Example]) -> str:
        """Store ``examples`` (content-addressed, idempotent) and return their hash ``sha256-<hex>``."""

    @abstractmethod
    def get_dataset(self, model: str, dataset: str) -> list[Example]:
        """The examples stored under ``dataset``, in the order they were put."""

    # ------------------------------------------------------------------------------------------- aliases

    @abstractmethod
    def get_alias(self, model: str, alias: str) -> str | None:
        """The version ``alias`` points at, or None if the alias was never set."""

    @abstractmethod
    def list_aliases(self, model: str) -> dict[str, str]:
        """Every alias of ``model`` and its version."""

    @abstractmethod
    def move_alias(
        self,
        model: str,
        alias: str,
        version: str,
        *,
        kind: MoveKind = "set",
        reason: str = "",
        request_id: str | None = None,
        expected_from: str | None = ANY_VERSION,
    ) -> AliasMove:
        """Point ``alias`` at ``version`` and append the move to the history.

        ``expected_from`` (a version, or None for "not set yet") makes the move a compare-and-set: if the alias
        does not point there now, nothing moves and ``INVALID_STATE`` is raised. With ``request_id``, the move
        is idempotent: if the history already holds a move of this alias for that request, that move is
        returned and nothing changes.
        """

    @abstractmethod
    def alias_history(self, model: str, alias: str | None = None) -> list[AliasRecord]:
        """Every alias move of ``model`` (or of one alias), oldest first."""

    @abstractmethod
    def previous_version(self, model: str, alias: str) -> str | None:
        """The version ``alias`` pointed at before its current one, skipping versions rolled back from.

        Replays the history as a stack (a release pushes, a rollback pops), so rolling back twice walks two
        releases back instead of toggling between the last two versions.
        """

    # ------------------------------------------------------------------------------------------- requests

    @abstractmethod
    def get_request(self, model: str, request_id: str) -> dict[str, Any] | None:
        """The record stored for ``request_id`` (what a retrain request decided), or None."""

    @abstractmethod
    def put_request(self, model: str, request_id: str, record: Mapping[str, Any]) -> None:
        """Store (or replace) the record of ``request_id`` atomically."""
