"""What every registry backend checks when an alias moves: the request itself, a replay of it, the compare-and-set.

The backends differ only in how they write the move (a pointer file under a lock, or a create-only log slot).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from pioneer.events import AliasMove
from pioneer.registry.base import ANY_VERSION, Registry
from pioneer.registry.errors import RegistryError
from pioneer.registry.records import AliasRecord, MoveKind


def check_move(registry: Registry, model: str, version: str, kind: MoveKind) -> None:
    """Refuse a move of an unknown kind, or to a version that does not exist, before anything is written."""
    if kind not in ("release", "rollback", "set"):
        raise RegistryError(f"alias move kind {kind!r} is not release, rollback or set", "INVALID_PARAMETER_VALUE")
    registry.get_manifest(model, version)  # an alias may only point at an existing version


def replayed(history: Sequence[AliasRecord], alias: str, request_id: str | None) -> AliasMove | None:
    """The move of ``alias`` that ``request_id`` already made, if the history holds one (the move is idempotent)."""
    if request_id is not None:
        for record in history:
            if record.alias == alias and record.request_id == request_id:
                return record.move()
    return None


def next_record(
    history: Sequence[AliasRecord],
    model: str,
    alias: str,
    current: str | None,
    version: str,
    *,
    kind: MoveKind,
    reason: str,
    request_id: str | None,
    expected_from: str | None,
) -> AliasRecord:
    """The record of the next move, once the compare-and-set (``expected_from``) holds."""
    if expected_from != ANY_VERSION and current != expected_from:
        raise RegistryError(f"alias {alias!r} of model {model!r} points at {current}, not {expected_from}", "INVALID_STATE")
    return AliasRecord(seq=len(history), alias=alias, from_version=current, to_version=version, kind=kind,
                       at=time.time(), reason=reason, request_id=request_id)
