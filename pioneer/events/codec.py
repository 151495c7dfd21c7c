"""The one codec for every event: orjson on the wire, JSON Schema validation on the way in and out.

>>> from pioneer.events import EventCodec, Label, Output
>>> codec = EventCodec()
>>> raw = codec.encode(Label(event_id="l-1", timestamp=1.0, request_id="r-1", source="human",
...                          expected=Output(label="transfer")))
>>> codec.decode(raw).expected.label
'transfer'
>>> codec.decode(b'{"event_type": "label"')
Traceback (most recent call last):
...
pioneer.events.codec.DecodeError: decode: not valid JSON: unexpected end of data: line 1 column 23 (char 22)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import fastjsonschema
import orjson

from pioneer.errors import PioneerError
from pioneer.events.types import EVENT_TYPES, Event

E = TypeVar("E", bound=Event)


MAX_DEPTH = 128
"""Most levels of nesting an event may have. orjson refuses to encode beyond 254, and a decoded event is wrapped
in others downstream (a trace embeds its log's fields), so every event that decodes must stay well below that."""


class DecodeError(PioneerError):
    """Raised for bytes that are not a valid event. ``kind`` is the dead-letter error class.

    Kinds: ``decode`` (not JSON, or not an object), ``unknown_type`` (no such event type or schema version),
    ``schema`` (fails its JSON Schema, or nests deeper than :data:`MAX_DEPTH`).
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


class EncodeError(PioneerError):
    """Raised for an event that cannot go on the wire. ``kind`` says why.

    Kinds: ``schema`` (breaks its own schema: a bug in the code that built it) and ``json`` (holds what JSON
    cannot carry, or nests deeper than :data:`MAX_DEPTH`: data a client sent, such as an integer of 2^64).
    """

    def __init__(self, message: str, kind: str = "schema") -> None:
        super().__init__(message)
        self.kind = kind


def schema_dir() -> Path:
    """The directory holding ``<event_type>/v<major>.schema.json`` files."""
    import schemas

    return Path(schemas.__file__).parent


def load_schemas(root: Path | None = None) -> dict[tuple[str, int], dict[str, Any]]:
    """Every schema under ``root`` keyed by (event type, major version)."""
    root = root or schema_dir()
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for path in sorted(root.glob("*/v*.schema.json")):
        major = int(path.name.split(".", 1)[0].removeprefix("v"))
        found[(path.parent.name, major)] = orjson.loads(path.read_bytes())
    return found


class EventCodec:
    """Encodes events to bytes and decodes bytes to typed events, validating both ways.

    Parameters
    ----------
    validate_outgoing
        Validate events on ``encode`` too. On by default: an invalid event produced by Pioneer is a bug and
        should fail where it is made, not in a consumer downstream.
    """

    def __init__(self, *, validate_outgoing: bool = True) -> None:
        self.validate_outgoing = validate_outgoing
        self._validators: dict[tuple[str, int], Callable[[Any], Any]] = {
            key: fastjsonschema.compile(schema) for key, schema in load_schemas().items()
        }
        missing = sorted(set(EVENT_TYPES) - {event_type for event_type, _ in self._validators})
        if missing:
            raise PioneerError(f"no schema file for event types {missing} under {schema_dir()}")

    def encode(self, event: Event) -> bytes:
        """Serialise ``event``; raises :class:`EncodeError` if it cannot be encoded or breaks its schema."""
        try:
            raw = orjson.dumps(event)
        except TypeError as exc:  # orjson.JSONEncodeError: an integer beyond 64 bits, a lone surrogate, 254+ levels
            raise EncodeError(f"{event.event_type} is not encodable as JSON: {exc}", kind="json") from None
        data = orjson.loads(raw) if self.validate_outgoing else None
        if nesting_exceeds(raw, MAX_DEPTH, data):
            raise EncodeError(f"{event.event_type} nests deeper than {MAX_DEPTH} levels", kind="json")
        if self.validate_outgoing:
            try:
                self._validators[(event.event_type, event.schema_version)](data)
            except fastjsonschema.JsonSchemaException as exc:
                raise EncodeError(f"{event.event_type} v{event.schema_version} breaks its schema: {exc.message}") from exc
        return raw

    def decode(self, raw: bytes, expected: type[E] | None = None) -> E:
        """Parse, validate and type ``raw``; raises :class:`DecodeError` saying why it is not a valid event.

        ``expected`` restricts the accepted type (an event of another type is ``unknown_type`` here).
        """
        if isinstance(raw, memoryview):
            raw = raw.tobytes()
        if not isinstance(raw, (bytes, bytearray)):
            raise DecodeError("decode", f"expected bytes, got {type(raw).__name__}")
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise DecodeError("decode", f"not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise DecodeError("decode", f"expected a JSON object, got {type(data).__name__}")
        if nesting_exceeds(raw, MAX_DEPTH, data):
            raise DecodeError("schema", f"nests deeper than {MAX_DEPTH} levels")
        event_type, version = data.get("event_type"), data.get("schema_version")
        known = isinstance(event_type, str) and type(version) is int
        validator = self._validators.get((event_type, version)) if known else None
        if validator is None:
            raise DecodeError("unknown_type", f"no schema for event_type={event_type!r} schema_version={version!r}")
        if expected is not None and event_type != expected.EVENT_TYPE:
            raise DecodeError("unknown_type", f"expected a {expected.EVENT_TYPE} event, got {event_type!r}")
        try:
            validator(data)
        except fastjsonschema.JsonSchemaException as exc:
            raise DecodeError("schema", exc.message) from None
        return from_dict(EVENT_TYPES[event_type], data)  # type: ignore[return-value]


def nesting_exceeds(raw: bytes | bytearray, limit: int, data: Any = None) -> bool:
    """Whether the JSON text ``raw`` (``data``: it decoded, if at hand) nests deeper than ``limit`` levels.

    Counting the brackets of ``raw`` is C-speed and settles almost every event (fewer than ``limit``: it
    cannot nest that deep); only the rest are walked.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    stack = [(orjson.loads(raw) if data is None else data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


# ------------------------------------------------------------------------------------------------ dict -> dataclass

_Builder = Callable[[Any], Any]
_BUILDERS: dict[type, _Builder] = {}


def from_dict(cls: type[E], data: dict[str, Any]) -> E:
    """Build dataclass ``cls`` from already validated JSON data, nested dataclasses included."""
    return _builder_for(cls)(data)


def _builder_for(cls: type) -> _Builder:
    builder = _BUILDERS.get(cls)
    if builder is None:
        hints = typing.get_type_hints(cls)
        plan = [(f.name, _converter(hints[f.name])) for f in dataclasses.fields(cls) if f.init]

        def builder(data: dict[str, Any], _cls: type = cls, _plan: list = plan) -> Any:
            kwargs = {}
            for name, convert in _plan:
                if name in data:
                    value = data[name]
                    kwargs[name] = value if convert is None or value is None else convert(value)
            return _cls(**kwargs)

        _BUILDERS[cls] = builder
    return builder


def _converter(hint: Any) -> _Builder | None:
    """How to turn JSON data into ``hint``; None when the JSON value is already right."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _converter(inner[0]) if len(inner) == 1 else None
    if dataclasses.is_dataclass(hint):
        return _builder_for(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        convert_item = _converter(item)
        return None if convert_item is None else (lambda values: [convert_item(v) for v in values])
    return None
