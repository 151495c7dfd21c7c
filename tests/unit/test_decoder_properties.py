"""Property-based tests of every decoder (hypothesis): hostile bytes and hostile JSON never raise anything but
DecodeError; whatever decodes can be encoded again; dead letters round-trip and stay small; the join buffer
takes any decoded log or label without raising, and its changelog restores.

Deterministic (``derandomize``) and modest in examples, so the suite stays fast and never flakes."""

from __future__ import annotations

import hashlib
import json

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pioneer.events import (
    DeadLetter,
    DecodeError,
    EncodeError,
    EventCodec,
    InferenceLog,
    Label,
    make_dead_letter,
    original_payload,
    schema_dir,
)
from pioneer.events.dead_letter import PAYLOAD_LIMIT
from pioneer.join import JoinBuffer

CODEC = EventCodec()
EXAMPLES = [orjson.loads(p.read_bytes()) for p in sorted(schema_dir().glob("*/v*.example*.json"))]
PROPERTY = settings(max_examples=200, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text with everything JSON can escape, lone surrogates included (hypothesis leaves them out by default).
ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=()), max_size=30)
HUGE_INTS = st.integers(min_value=-(2**70), max_value=2**70)
SCALARS = st.none() | st.booleans() | HUGE_INTS | st.floats(allow_nan=False, allow_infinity=False) | ANY_TEXT
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4), max_leaves=20
)


def _dumps(value: object) -> bytes:
    """JSON text of ``value``: Python's encoder writes what orjson refuses (lone surrogates, integers beyond 64 bits)."""
    return json.dumps(value).encode()


def _nest(raw: bytes, levels: int) -> bytes:
    """``raw`` wrapped in ``levels`` objects, as text (no encoder recurses that deep)."""
    return b'{"x":' * levels + raw + b"}" * levels


def _decodes_or_refuses(raw: bytes, expected: type | None = None):
    """Decode ``raw``; only DecodeError may come out, and what decodes must encode again."""
    try:
        event = CODEC.decode(raw, expected)
    except DecodeError:
        return None
    assert CODEC.decode(CODEC.encode(event)) == event
    return event


@PROPERTY
@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_decode_error(raw: bytes) -> None:
    _decodes_or_refuses(raw)


@PROPERTY
@given(JSON_VALUES, st.integers(min_value=0, max_value=1200))
def test_any_json_at_any_depth_decodes_or_raises_decode_error(value: object, levels: int) -> None:
    _decodes_or_refuses(_nest(_dumps(value), levels))


@st.composite
def mutated_examples(draw: st.DrawFn) -> bytes:
    """A valid example event with one field, at any depth, replaced by any JSON value (nested or not)."""
    event = json.loads(json.dumps(draw(st.sampled_from(EXAMPLES))))
    node = event
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = draw(st.sampled_from(keys))
        if not isinstance(node[key], (dict, list)) or not node[key] or draw(st.booleans()):
            break
        node = node[key]
    node[key] = "__hole__"
    value = _nest(_dumps(draw(JSON_VALUES)), draw(st.sampled_from([0, 0, 0, 1, 126, 127, 128, 300])))
    return _dumps(event).replace(b'"__hole__"', value, 1)


@PROPERTY
@given(mutated_examples())
def test_mutated_events_decode_or_raise_decode_error(raw: bytes) -> None:
    _decodes_or_refuses(raw)


@PROPERTY
@given(
    st.binary(max_size=200) | st.sampled_from([PAYLOAD_LIMIT, PAYLOAD_LIMIT + 1, 3_000_000]).map(lambda n: b"\xff" * n),
    st.none() | st.binary(max_size=5000),
    ANY_TEXT,
    st.integers(min_value=0, max_value=2**31),
)
def test_dead_letters_round_trip_and_stay_small(payload: bytes, key: bytes | None, reason: str, offset: int) -> None:
    letter = make_dead_letter(payload=payload, key=key, topic="t", partition=0, offset=offset, error="processing",
                              reason=reason, now=1.0)
    raw = CODEC.encode(letter)
    assert len(raw) < 1_000_000
    back = CODEC.decode(raw, expected=DeadLetter)
    assert back == letter
    assert back.payload_bytes == len(payload) and back.payload_sha256 == hashlib.sha256(payload).hexdigest()
    assert back.payload_truncated == (len(payload) > PAYLOAD_LIMIT)
    assert original_payload(back) == payload[:PAYLOAD_LIMIT]


SMALL_INTS = st.integers(min_value=0, max_value=50) | HUGE_INTS
SPANS = st.lists(
    st.fixed_dictionaries({"start": SMALL_INTS, "end": SMALL_INTS, "label": ANY_TEXT},
                          optional={"text": st.none() | ANY_TEXT}),
    max_size=3,
)
OUTPUTS = st.fixed_dictionaries(
    {}, optional={"label": st.none() | ANY_TEXT, "spans": st.none() | SPANS, "text": st.none() | ANY_TEXT,
                  "scores": st.none() | st.dictionaries(ANY_TEXT, HUGE_INTS | st.floats(allow_nan=False), max_size=3)},
)
REQUESTS = st.sampled_from(["r1", "r2"]) | ANY_TEXT
METADATA = st.none() | st.dictionaries(ANY_TEXT, JSON_VALUES, max_size=3)
TASKS = st.sampled_from(["classification", "entity_extraction", "generation"])


@st.composite
def logs_and_labels(draw: st.DrawFn) -> bytes:
    common = {"schema_version": 1, "event_id": draw(ANY_TEXT), "timestamp": draw(st.floats(0, 1e10)),
              "request_id": draw(REQUESTS), "metadata": draw(METADATA)}
    if draw(st.booleans()):
        event = common | {"event_type": "inference_log", "model": {"name": "m", "version": "v"}, "task": draw(TASKS),
                          "input": {"text": draw(ANY_TEXT), "context": draw(METADATA)}, "prediction": draw(OUTPUTS),
                          "latency_ms": draw(st.floats(0, 1e6) | HUGE_INTS)}
    else:
        event = common | {"event_type": "label", "source": draw(st.sampled_from(["human", "judge", "rule"])),
                          "expected": draw(st.none() | OUTPUTS), "verdict": draw(st.sampled_from([None, "pass", "fail"])),
                          "reason": draw(st.none() | ANY_TEXT)}
    return _dumps(event)


@settings(PROPERTY, max_examples=100)  # each example is a whole stream of events
@given(st.lists(logs_and_labels(), min_size=1, max_size=8))
def test_the_join_buffer_takes_any_decoded_event(raws: list[bytes]) -> None:
    buffer = JoinBuffer(window=10.0, max_pending=3)
    for now, raw in enumerate(raws):
        event = _decodes_or_refuses(raw)
        if isinstance(event, InferenceLog):
            traces = buffer.add_log(event, float(now), raw)
        elif isinstance(event, Label):
            traces = buffer.add_label(event, float(now), raw)
        else:
            continue
        for trace in traces:
            try:
                CODEC.decode(CODEC.encode(trace))
            except EncodeError as exc:  # pragma: no cover - the assertion says what broke
                raise AssertionError(f"a trace of decoded events does not encode: {exc}") from exc
    restored = JoinBuffer(window=10.0, max_pending=3)
    for key, value in buffer.take_changes().items():
        restored.restore(key, value)
    restored.finish_restore()
    assert len(restored) == len(buffer)
    buffer.expire(1e12)


@PROPERTY
@given(st.lists(st.tuples(ANY_TEXT, st.none() | st.binary(max_size=100) | JSON_VALUES.map(_dumps)
                          | logs_and_labels().map(lambda raw: b'{"first_seen": 1, "log": ' + raw + b', "labels": [], "joined": []}')),
                max_size=6))
def test_join_state_restores_from_any_changelog_bytes(records: list[tuple[str, bytes | None]]) -> None:
    buffer = JoinBuffer(window=10.0)
    for key, raw in records:
        buffer.restore(key, raw)
    buffer.finish_restore()
    buffer.expire(1e12)
    assert buffer.stats.corrupt_state <= len(records)


@settings(PROPERTY, max_examples=100)  # each example builds a shipper and its spill
@given(st.lists(st.binary(max_size=100) | JSON_VALUES.map(_dumps) | logs_and_labels(), max_size=6))
def test_spill_lines_route_or_count_as_corrupt(lines: list[bytes]) -> None:
    import tempfile

    from pioneer.serving import SpillQueue
    from streams.kafka import KafkaSettings
    from streams.serving import EventShipper, ServingMetrics

    metrics = ServingMetrics()
    with tempfile.TemporaryDirectory() as directory, SpillQueue(directory, max_bytes=1 << 20, fsync=False) as spill:
        routed = EventShipper(KafkaSettings(), spill, metrics=metrics, codec=CODEC)._route(lines)
    corrupt = metrics.value("pioneer_serving_events_dropped_total", reason="corrupt")
    assert len(routed) + corrupt == len(lines)
