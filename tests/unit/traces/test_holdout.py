"""The reserved share: chosen by a stable hash of the request id, the same in every process and in SQL."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pioneer.events import Output
from pioneer.traces import TraceStore, is_reserved, labeled_trace
from pioneer.traces.holdout import bucket
from pioneer.training import Example

IDS = [f"req-{i}" for i in range(2000)]


def test_reservation_is_the_same_in_another_process_with_another_hash_seed() -> None:
    code = "from pioneer.traces import is_reserved; print(''.join('1' if is_reserved(f'req-{i}') else '0' for i in range(2000)))"
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": os.getcwd()}
    other = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert other == "".join("1" if is_reserved(i) else "0" for i in IDS)


def test_reservation_is_pinned_so_a_changed_hash_cannot_silently_move_traces_into_training() -> None:
    # Changing the hash or its salt would move reserved traces into training: these pins catch that.
    assert [i for i in IDS[:40] if is_reserved(i, 0.2)] == PINNED
    assert 0.17 < sum(map(is_reserved, IDS)) / len(IDS) < 0.23


def test_a_larger_share_only_adds_traces() -> None:
    small = {i for i in IDS if is_reserved(i, 0.1)}
    large = {i for i in IDS if is_reserved(i, 0.3)}
    assert small < large
    assert all(0.0 <= bucket(i) < 1.0 for i in IDS)


def test_share_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="share"):
        is_reserved("x", 1.5)


def test_the_store_selects_exactly_the_reserved_traces() -> None:
    store = TraceStore(":memory:")
    examples = [Example(id=f"req-{i}", text=f"text {i}", label="a") for i in range(300)]
    store.add(
        labeled_trace(e, Output(label="a"), model="m", version="v1", task="classification", at=float(k))
        for k, e in enumerate(examples)
    )
    inside = {t.request_id for t in store.query(model="m", reserved=True, reserved_share=0.2)}
    outside = {t.request_id for t in store.query(model="m", reserved=False, reserved_share=0.2)}
    assert inside == {e.id for e in examples if is_reserved(e.id, 0.2)}
    assert inside and outside and not inside & outside and len(inside | outside) == 300


PINNED = ["req-0", "req-4", "req-11", "req-15", "req-19", "req-20", "req-27", "req-32", "req-34"]
