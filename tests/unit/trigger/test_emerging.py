"""EmergingPatternDetector: thresholds, hold/release, publication rules, merges, schema and checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from pioneer.clustering import ClusterStats, Snapshot
from pioneer.events import Confusion, EventCodec, Exemplar, ModelRef
from pioneer.trigger import EmergingPatternDetector, failure_rate_lower_bound, wilson_lower
from pioneer.trigger.rates import estimate_failure_rate

HOT = dict(failures_recent=40.0, passes_sampled_recent=2.0, growth=5.0, state="growing")
COLD = dict(failures_recent=40.0, passes_sampled_recent=2.0, growth=1.0, state="stable")


def cluster(cid: int, **kw) -> ClusterStats:
    base = dict(
        id=cid, state="growing", size=50.0, failures_recent=40.0, passes_sampled_recent=2.0, passes_recent=20.0,
        traffic_share=0.01, growth=5.0, first_seen=100.0 + cid, last_seen=900.0,
        confusions=(Confusion(expected="transfer", predicted="balance", count=30),),
        exemplars=(Exemplar(request_id=f"r{cid}", text="move money", expected="transfer", predicted="balance"),),
        keywords=("move", "money"), name="move / money", n_micro=3, centroid=np.zeros(4, dtype=np.float32),
    )
    base.update(kw)
    base["passes_recent"] = base["passes_sampled_recent"] / 0.1
    return ClusterStats(**base)


def snap(t: float, *clusters: ClusterStats, merged: dict[int, int] | None = None) -> Snapshot:
    return Snapshot(time=t, clusters=tuple(clusters), merged=merged or {}, failures_recent=500.0,
                    passes_sampled_recent=900.0, pass_sample_rate=0.1, n_updates=10_000)


def test_rates() -> None:
    assert estimate_failure_rate(10, 0, 0.1) == 1.0
    assert wilson_lower(0, 10, 1.645) == 0.0
    assert failure_rate_lower_bound(50, 50, 1.0) == pytest.approx(wilson_lower(50, 100, 1.645))
    # Fewer sampled passes observed means more uncertainty, so a lower bound that is lower than the naive one.
    assert failure_rate_lower_bound(30, 3, 0.1) < wilson_lower(30, 60, 1.645)
    assert failure_rate_lower_bound(300, 30, 0.1) > failure_rate_lower_bound(30, 3, 0.1)


@pytest.mark.parametrize(
    "kwargs",
    [{"min_failures": 0}, {"min_failure_rate": 1.5}, {"hold_checks": 0}, {"confidence": 1.0}, {"heartbeat": 0}],
)
def test_invalid_parameters(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        EmergingPatternDetector(**kwargs)


def test_each_threshold_blocks_on_its_own() -> None:
    det = EmergingPatternDetector()
    s = snap(1000.0, cluster(1))
    assert det.check(s.clusters[0], s).passed
    for change in ({"failures_recent": 9.0}, {"growth": 1.9}, {"passes_sampled_recent": 60.0}):
        c = cluster(1, **change)
        assert not det.check(c, snap(1000.0, c)).passed, change
    # Above the thresholds but not above the global failure rate: no.
    c = cluster(1, passes_sampled_recent=8.0)
    busy = Snapshot(time=1.0, clusters=(c,), merged={}, failures_recent=200.0, passes_sampled_recent=60.0,
                    pass_sample_rate=0.1, n_updates=1)  # traffic fails 25%: not broad, so lift applies
    assert not det.check(c, busy).passed


def test_needs_hold_checks_in_a_row_and_releases_after_release_checks() -> None:
    det = EmergingPatternDetector(hold_checks=3, release_checks=2)
    model = ModelRef(name="intents", version="v1")
    seq = [HOT, HOT, COLD, HOT, HOT, HOT, COLD, HOT, COLD, COLD]
    flags = []
    for i, kw in enumerate(seq):
        det.update(snap(1000.0 + i, cluster(1, **kw)), model=model)
        flags.append(len(det.emerging_) == 1)
    assert flags == [False, False, False, False, False, True, True, True, True, False]


def test_publishes_on_start_change_and_heartbeat_only() -> None:
    det = EmergingPatternDetector(hold_checks=1, heartbeat=600.0)
    fired = [det.update(snap(t, cluster(1, **kw)), model="intents").fired for t, kw in
             [(0.0, COLD), (10.0, HOT), (20.0, HOT), (700.0, HOT), (710.0, dict(HOT, state="stable"))]]
    assert [len(f) for f in fired] == [0, 1, 0, 1, 1]
    assert [f[0].event_id for f in fired if f] == [f"pat-{fired[1][0].pattern_id}-00000{i}" for i in (1, 2, 3)]
    assert fired[4][0].state == "stable" and fired[4][0].emerging


def test_merged_and_vanished_patterns_get_a_last_event() -> None:
    det = EmergingPatternDetector(hold_checks=1)
    det.update(snap(10.0, cluster(1), cluster(2)), model="intents")
    ids = {e.pattern_id for e in det.fired}
    assert len(ids) == 2
    det.update(snap(20.0, cluster(2), merged={1: 2}), model="intents")
    (last,) = det.fired
    assert last.state == "merged" and not last.emerging and last.merged_into in ids and last.pattern_id in ids
    det.update(snap(30.0), model="intents")
    (gone,) = det.fired
    assert gone.state == "fading" and gone.merged_into is None and not gone.emerging
    assert det.emerging_ == ()


def test_events_satisfy_the_schema() -> None:
    codec = EventCodec()
    det = EmergingPatternDetector(hold_checks=1)
    det.update(snap(10.0, cluster(1, growth=float("inf"))), model=ModelRef(name="intents", version="sha256-1"))
    (event,) = det.fired
    decoded = codec.decode(codec.encode(event))
    assert decoded.pattern_id == event.pattern_id and decoded.model.version == "sha256-1"
    assert 0.0 <= event.failure_rate_lower <= event.failure_rate <= 1.0


def test_pattern_ids_are_deterministic_and_checkpoints_continue_identically() -> None:
    def run(det: EmergingPatternDetector, times: list[float]) -> list[str]:
        out = []
        for t in times:
            out += [e.event_id for e in det.update(snap(t, cluster(1), cluster(2, growth=1.0)), model="m").fired]
        return out

    a, b = EmergingPatternDetector(), EmergingPatternDetector()
    assert run(a, [10.0, 20.0]) == run(b, [10.0, 20.0])
    restored = EmergingPatternDetector.from_bytes(a.to_bytes())
    assert restored.get_params() == a.get_params()
    assert run(restored, [700.0, 1400.0]) == run(a, [700.0, 1400.0])
    with pytest.raises(ValueError):
        EmergingPatternDetector.from_bytes(b'{"class": "Other", "version": 1}')


def broad_snap(t: float, *clusters: ClusterStats, failures: float, sampled_passes: float) -> Snapshot:
    return Snapshot(time=t, clusters=tuple(clusters), merged={}, failures_recent=failures,
                    passes_sampled_recent=sampled_passes, pass_sample_rate=0.1, n_updates=10_000)


def test_a_model_failing_broadly_gets_patterns_without_lift_or_growth() -> None:
    # Traffic fails 2/3 of the time: no cluster can fail 1.5x as often, and a weakness present from the start
    # never grows. The broad rule waives both; without it (None) the same clusters never pass.
    steady = cluster(1, failures_recent=40.0, passes_sampled_recent=2.0, growth=1.0, state="stable")
    broad = broad_snap(1000.0, steady, failures=600.0, sampled_passes=30.0)
    check = EmergingPatternDetector().check(steady, broad)
    assert check.broad and check.passed
    assert not EmergingPatternDetector(broad_failure_rate=None).check(steady, broad).passed
    # Still needs the cluster's own evidence: too few failures or a low failure rate fail.
    for change in ({"failures_recent": 9.0}, {"passes_sampled_recent": 400.0}):
        c = cluster(1, growth=1.0, **change)
        assert not EmergingPatternDetector().check(c, broad_snap(1000.0, c, failures=600.0, sampled_passes=30.0)).passed
    # A model failing 10% of traffic is not broad: lift and growth apply again.
    narrow = broad_snap(1000.0, steady, failures=100.0, sampled_passes=90.0)
    check = EmergingPatternDetector().check(steady, narrow)
    assert not check.broad and not check.passed


def test_broad_patterns_emerge_through_the_detector() -> None:
    det = EmergingPatternDetector(hold_checks=2)
    clusters = [cluster(i, growth=1.0, state="stable") for i in (1, 2, 3)]
    for t in (1000.0, 1010.0):
        det.update(broad_snap(t, *clusters, failures=600.0, sampled_passes=30.0), model="tagger")
    assert len(det.emerging_) == 3
