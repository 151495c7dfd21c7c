"""Which version should serve, read off the release topic's events.

The releases topic is compacted by model name: the last ``model_release`` or ``model_rollback`` of a model is
what its production alias points at. A serving process cares only about events of its own model that move
its own alias (a release of a ``candidate`` alias must not reach production traffic).

>>> from pioneer.events import AliasMove, ModelRef, ModelRollback
>>> rollback = ModelRollback(event_id="rb-1", timestamp=1.0, model=ModelRef(name="intents", version="sha256-aaaaaaaaaaaa"),
...     alias=AliasMove(name="production", from_version="sha256-bbbbbbbbbbbb", to_version="sha256-aaaaaaaaaaaa"),
...     reason="bad release")
>>> release_target(rollback, model="intents", alias="production")
('sha256-aaaaaaaaaaaa', 'rollback')
>>> release_target(rollback, model="other", alias="production") is None
True
"""

from __future__ import annotations

from pioneer.events import Event, ModelRelease, ModelRollback


def release_target(event: Event, *, model: str, alias: str) -> tuple[str, str] | None:
    """(version, kind) that ``event`` asks ``model``'s ``alias`` to serve, or None if it is not about them."""
    if not isinstance(event, ModelRelease | ModelRollback):
        return None
    if event.model.name != model or event.alias.name != alias:
        return None
    kind = "release" if isinstance(event, ModelRelease) else "rollback"
    return event.alias.to_version or event.model.version, kind
