"""Rollback: move an alias back to the version it served before, and say so with an event."""

from __future__ import annotations

import time

from pioneer.events import ModelRef, ModelRollback
from pioneer.registry.base import Registry
from pioneer.registry.errors import RegistryError


def rollback(
    registry: Registry,
    model: str,
    *,
    alias: str = "production",
    reason: str = "rollback",
    requested_by: str | None = None,
) -> ModelRollback:
    """Point ``alias`` at its previous version (see ``Registry.previous_version``) and return the event to publish.

    Raises ``RegistryError(INVALID_STATE)`` when there is nothing to roll back to. The event id is built from
    the history position of the move, so publishing it twice is deduplicated downstream.
    """
    current = registry.get_alias(model, alias)
    previous = registry.previous_version(model, alias)
    if current is None or previous is None:
        raise RegistryError(
            f"alias {alias!r} of model {model!r} has no previous version to roll back to", "INVALID_STATE"
        )
    move = registry.move_alias(model, alias, previous, kind="rollback", reason=reason, expected_from=current)
    record = registry.alias_history(model, alias)[-1]
    return ModelRollback(
        event_id=f"rb-{model}-{alias}-{record.seq}",
        timestamp=time.time(),
        model=ModelRef(name=model, version=previous),
        alias=move,
        reason=reason,
        requested_by=requested_by,
    )
