"""Every schema is valid, every example validates and round-trips, and the Python types mirror the schemas."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path

import jsonschema
import orjson
import pytest

from pioneer.events import (
    EVENT_TYPES,
    DecodeError,
    EncodeError,
    EventCodec,
    InferenceLog,
    Label,
    load_schemas,
    schema_dir,
)
from pioneer.events.types import Event

SCHEMAS = load_schemas()
EXAMPLES = sorted(schema_dir().glob("*/v*.example*.json"))


def _without_nulls(value):
    # An absent optional field and an explicit null mean the same thing in these contracts.
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


@pytest.fixture(scope="module")
def codec() -> EventCodec:
    return EventCodec()


def test_one_schema_per_event_type_and_major_version() -> None:
    assert {event_type for event_type, _ in SCHEMAS} == set(EVENT_TYPES)
    for (event_type, major), schema in SCHEMAS.items():
        jsonschema.Draft7Validator.check_schema(schema)
        assert schema["properties"]["event_type"] == {"const": event_type}
        assert schema["properties"]["schema_version"] == {"const": major}


def test_every_schema_has_an_example() -> None:
    with_examples = {(p.parent.name, int(p.name[1 : p.name.index(".")])) for p in EXAMPLES}
    assert with_examples == set(SCHEMAS)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_example_validates_and_round_trips(path: Path, codec: EventCodec) -> None:
    raw = path.read_bytes()
    data = orjson.loads(raw)
    jsonschema.validate(data, SCHEMAS[(data["event_type"], data["schema_version"])])
    event = codec.decode(raw)
    assert type(event) is EVENT_TYPES[data["event_type"]]
    encoded = codec.encode(event)
    assert _without_nulls(orjson.loads(encoded)) == _without_nulls(data)
    assert codec.decode(encoded) == event


def _schema_of(schema: dict) -> dict:
    """The object schema inside a nullable wrapper."""
    if "anyOf" in schema and "properties" not in schema:
        return next(s for s in schema["anyOf"] if s.get("type") != "null")
    return schema


def _assert_mirrors(cls: type, schema: dict, where: str) -> None:
    schema = _schema_of(schema)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert set(fields) == set(schema["properties"]), f"{where}: fields differ from the schema's properties"
    required_in_code = {
        name for name, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    required_in_schema = set(schema.get("required", [])) - {"event_type", "schema_version"}
    assert required_in_code == required_in_schema, f"{where}: required fields differ"
    hints = typing.get_type_hints(cls)
    for name, prop in schema["properties"].items():
        hint = hints[name]
        is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        inner = next(a for a in typing.get_args(hint) if a is not type(None)) if is_union else hint
        if dataclasses.is_dataclass(inner):
            _assert_mirrors(inner, prop, f"{where}.{name}")
        elif typing.get_origin(inner) is list and dataclasses.is_dataclass(typing.get_args(inner)[0]):
            _assert_mirrors(typing.get_args(inner)[0], _schema_of(prop)["items"], f"{where}.{name}[]")


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_python_types_mirror_schemas(event_type: str) -> None:
    _assert_mirrors(EVENT_TYPES[event_type], SCHEMAS[(event_type, 1)], event_type)


def test_decode_errors_say_why(codec: EventCodec) -> None:
    with pytest.raises(DecodeError) as not_json:
        codec.decode(b"{not json")
    assert not_json.value.kind == "decode"
    with pytest.raises(DecodeError) as not_object:
        codec.decode(b"[1, 2]")
    assert not_object.value.kind == "decode"
    with pytest.raises(DecodeError) as unknown:
        codec.decode(b'{"event_type": "telemetry", "schema_version": 1}')
    assert unknown.value.kind == "unknown_type"
    with pytest.raises(DecodeError) as future_version:
        codec.decode(b'{"event_type": "label", "schema_version": 9}')
    assert future_version.value.kind == "unknown_type"
    example = orjson.loads((schema_dir() / "inference_log" / "v1.example.json").read_bytes())
    example["latency_ms"] = -3
    with pytest.raises(DecodeError) as invalid:
        codec.decode(orjson.dumps(example))
    assert invalid.value.kind == "schema" and "latency_ms" in invalid.value.reason
    with pytest.raises(DecodeError) as wrong_type:
        codec.decode(orjson.dumps(example | {"latency_ms": 1.0}), expected=Label)
    assert wrong_type.value.kind == "unknown_type"


def test_label_needs_an_expected_output_or_a_verdict(codec: EventCodec) -> None:
    bare = Label(event_id="l", timestamp=1.0, request_id="r", source="human")
    with pytest.raises(EncodeError):
        codec.encode(bare)


def test_encode_refuses_an_event_that_breaks_its_schema(codec: EventCodec) -> None:
    event = codec.decode((schema_dir() / "inference_log" / "v1.example.json").read_bytes(), expected=InferenceLog)
    event.task = "translation"  # type: ignore[assignment]
    with pytest.raises(EncodeError, match="task"):
        codec.encode(event)


def test_event_type_is_set_by_the_class() -> None:
    label = Label(event_id="l", timestamp=1.0, request_id="r", source="rule", verdict="fail")
    assert (label.event_type, label.schema_version) == ("label", 1)
    assert all(issubclass(cls, Event) and cls.EVENT_TYPE == name for name, cls in EVENT_TYPES.items())
