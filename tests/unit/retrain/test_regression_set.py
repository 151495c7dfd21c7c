"""The regression set R: reserved traffic plus earlier sets, stratified and capped, and never trained on."""

from __future__ import annotations

from collections import Counter

import pytest

from pioneer.events import Output
from pioneer.retrain import Retrainer
from pioneer.retrain.regression_set import RegressionSetBuilder
from pioneer.traces import is_reserved, labeled_trace
from pioneer.training import Example
from tests.unit.retrain.conftest import World
from tests.unit.retrain.scenario import MODEL
from tests.unit.retrain.test_retrain_classification import request


def trace(i: int, label: str, outcome: str = "pass"):
    example = Example(id=f"req-{i}", text=f"query number {i}", label=label)
    predicted = Output(label=label if outcome == "pass" else "other")
    return labeled_trace(example, predicted, model=MODEL, version="v1", task="classification", at=float(i))


def test_only_reserved_passing_traces_join_r_with_the_earlier_sets() -> None:
    traces = [trace(i, "a") for i in range(200)] + [trace(i, "a", "fail") for i in range(200, 400)]
    earlier = [Example(id=f"gate-{i}", text=f"gate {i}", label="b") for i in range(10)]
    r = RegressionSetBuilder(share=0.2).build("classification", traces, earlier)
    reserved_passes = {t.request_id for t in traces[:200] if is_reserved(t.request_id, 0.2)}
    assert {e.id for e in r.examples} == reserved_passes | {e.id for e in earlier}
    assert r.reserved_ids == reserved_passes and r.from_traffic == len(reserved_passes) and r.sampled_out == 0


def test_above_its_cap_r_keeps_each_label_in_proportion_and_the_same_members_as_it_grows() -> None:
    builder = RegressionSetBuilder(share=1.0, caps=(("classification", 100), ("generation", 7)))
    labels = ["a"] * 6 + ["b"] * 3 + ["rare"]  # 60% / 30% / 10%
    traces = [trace(i, labels[i % 10]) for i in range(1000)]
    r = builder.build("classification", traces)
    assert len(r.examples) == 100 and r.sampled_out == 900
    assert Counter(e.label for e in r.examples) == {"a": 60, "b": 30, "rare": 10}
    grown = builder.build("classification", [*traces, *(trace(i, labels[i % 10]) for i in range(1000, 1100))])
    assert len({e.id for e in r.examples} & {e.id for e in grown.examples}) >= 85  # a stable sample, not a reshuffle
    assert builder.cap("generation") == 7 and builder.cap("entity_extraction") == 7  # unnamed: the smallest cap


def test_a_cap_below_the_number_of_strata_still_holds() -> None:
    traces = [trace(i, f"l{i}") for i in range(50)]
    r = RegressionSetBuilder(share=1.0, caps=(("classification", 10),)).build("classification", traces)
    assert len(r.examples) == 10


def test_r_splits_into_a_search_half_and_a_certifying_half_that_never_overlap() -> None:
    traces = [trace(i, "abc"[i % 3]) for i in range(1000)]
    r = RegressionSetBuilder(share=1.0).build("classification", traces)
    search = {e.id for e in r.search_examples()}
    certifying = {e.id for e in r.certifying_examples()}
    assert not search & certifying and search | certifying == {e.id for e in r.examples}
    assert 400 <= len(search) <= 600  # a hash split, about half each
    assert search == {e.id for e in RegressionSetBuilder(share=1.0).build("classification", traces[::-1]).search_examples()}
    gate_ids = sorted(certifying)[:10]
    assert not set(gate_ids) & {e.id for e in r.certifying_examples(exclude=gate_ids)}


@pytest.mark.parametrize("kwargs", [{"share": 1.5}, {"caps": ()}, {"caps": (("classification", 0),)}, {"max_scan": 0}])
def test_bad_settings_are_refused(kwargs) -> None:
    with pytest.raises(ValueError):
        RegressionSetBuilder(**kwargs)


@pytest.mark.slow
def test_a_real_retrain_never_trains_on_r_and_stores_it_for_the_next(world: World) -> None:
    registry, store = world.registry(), world.traces()
    share = 0.5  # half of the 40 passing traces, so both sides hold enough to show the difference
    passes = [t.request_id for t in store.query(model=MODEL, outcome="pass")]
    reserved = {i for i in passes if is_reserved(i, share)}
    assert 10 <= len(reserved) <= 30
    decision = Retrainer(regression=RegressionSetBuilder(share=share)).run(
        request(world, "rr-r"), registry=registry, traces=store
    )
    assert decision.version is not None, decision.gate_report
    manifest = registry.get_manifest(MODEL, decision.version)
    trained = {e.id.split("#", 1)[0] for e in registry.get_dataset(MODEL, manifest.training_data)}
    curriculum = {e.id.split("#", 1)[0] for e in registry.get_dataset(MODEL, manifest.recipe["curriculum"])}
    stored_r = {e.id for e in registry.get_dataset(MODEL, manifest.eval_sets["regression"])}
    assert not reserved & trained and not reserved & curriculum
    assert reserved <= stored_r
    assert not stored_r & trained  # nor the earlier gate sets R holds
    # The retrain does train on passing traffic: the unreserved passes reach the training set, the reserved never.
    assert (set(passes) - reserved) & trained
