"""The retrain loop with real training: a planted pattern gets fixed, planted noise stays out, regressions are
rejected, and a crash between deciding and publishing still ends in exactly one release."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from pioneer.data import load_clinc150
from pioneer.diagnosis import Diagnoser, NeighbourNoiseDetector
from pioneer.events import (
    Budget,
    EventCodec,
    ModelRef,
    Output,
    PatternRef,
    RetrainRequest,
)
from pioneer.gates.regression import FLIP_CHECKS
from pioneer.registry import FileRegistry
from pioneer.retrain import NAIVE_NOTE, Retrainer, default_factory, handle_request
from pioneer.retrain.trust import choose_band, label_trust
from pioneer.traces import labeled_trace
from tests.unit.retrain.conftest import World
from tests.unit.retrain.scenario import CLINC, MODEL, NEW

pytestmark = pytest.mark.slow


def request(world: World, request_id: str, *, iterations: int = 2, pattern: str = "p-spend") -> RetrainRequest:
    return RetrainRequest(
        event_id=request_id,
        timestamp=2000.0,
        request_id=request_id,
        model=ModelRef(name=MODEL, version=world.production),
        patterns=[PatternRef(pattern_id=pattern, name="spending questions")],
        reason="test",
        budget=Budget(max_iterations=iterations, max_candidates=2),
    )


class CountingFactory:
    def __init__(self) -> None:
        self.fits = 0

    def __call__(self, task, config):
        self.fits += 1
        return default_factory(task, config)


def test_planted_pattern_is_fixed_and_planted_noise_is_excluded(world: World) -> None:
    registry, store = world.registry(), world.traces()
    events = []
    decision = Retrainer().run(request(world, "rr-fix"), registry=registry, traces=store, progress=events.append)
    assert decision.outcome == "released", decision.gate_report
    assert registry.get_alias(MODEL, "production") == decision.version != world.production

    # fixed: on CLINC test requests of the new intent, never seen by anyone, the release is right and production was not
    unseen = [e for e in load_clinc150(CLINC, "test") if e.label == NEW]
    before = registry.load_adapter(MODEL, world.production).evaluate(unseen).metric
    after = registry.load_adapter(MODEL, decision.version).evaluate(unseen).metric
    assert before == 0.0 and after >= 0.7, (before, after)
    assert decision.metrics["negative_flips"] <= 2

    # noise, the injection and gibberish were diagnosed and never trained on
    noisy = {e.id for e in world.scenario.noise} | {"adv-1", "gib-1", "bare-1"}
    manifest = registry.get_manifest(MODEL, decision.version)
    trained = {e.id.split("#")[0] for e in registry.get_dataset(MODEL, manifest.training_data)}
    curriculum = registry.get_dataset(MODEL, manifest.recipe["curriculum"])
    assert not noisy & trained
    assert Counter(e.label for e in curriculum)[NEW] >= 8
    verdicts = decision.diagnosis["patterns"][0]["verdicts"]
    assert sum(verdicts[i] == "label_noise" for i in {e.id for e in world.scenario.noise}) >= 5

    # the gate set grew (ratchet) and nothing in it was trained on
    gate_ids = {e.id for e in registry.get_dataset(MODEL, manifest.eval_sets["gate"])}
    assert len(gate_ids) > len(world.scenario.base_gate) and not gate_ids & trained

    # at least two real candidates per iteration, and the story told in valid events
    assert Counter(c["iteration"] for c in decision.candidates)[0] >= 2
    # the record says what the gate made of each candidate it judged: the released one passed everything
    released = [c for c in decision.candidates if c["chosen"]][-1]  # earlier iterations' favourites come first
    gate = released["gate"]
    assert {k: gate[k] for k in ("passed", "failed", "negative_flips", "regression_negative_flips", "certified")} == {
        "passed": True, "failed": [], "negative_flips": decision.metrics["negative_flips"],
        "regression_negative_flips": decision.metrics["regression_negative_flips"], "certified": True}
    # it was chosen for certification by what the screen saw it break: the gate set and R's search half
    assert gate["screen_flips"] == gate["negative_flips"] + (gate["search_half_flips"] or 0)
    # R: the gate set's forerunners and reserved traffic, judged by the rate contract, said in the report
    # (its certifying half, less what the gate set's own checks judged: the earlier gate sets are in the gate set)
    assert decision.metrics["regression_examples"] >= 1
    r_check = next(c for c in decision.gate_report.checks if c.name == "regression_set_flips")
    assert r_check.passed and "of what works breaks" in r_check.detail and "certification 1 of" in r_check.detail
    # the answers users get: the serving engine (ONNX) agrees with what the gate scored
    parity = next(c for c in decision.gate_report.checks if c.name == "serving_parity")
    assert parity.passed and parity.observed >= 0.995 and decision.metrics["serving_parity"] == parity.observed
    codec = EventCodec()
    for event in [*events, *decision.events]:
        codec.encode(event)
    stages = [e.stage for e in events]
    for stage in ("queued", "diagnosing", "curriculum", "training", "evaluating", "gating", "releasing"):
        assert stage in stages
    assert decision.events[-1].stage == "released" and decision.events[-1].event_id not in {e.event_id for e in events}
    release = decision.events[0]
    assert release.event_type == "model_release" and release.alias.from_version == world.production
    assert release.gate_report.candidate_version == decision.version
    assert any(c.name == "pattern_fix_rate:p-spend" and c.passed for c in release.gate_report.checks)

    # A request still naming the replaced version is superseded: nothing trains, the alias stays on the release.
    factory = CountingFactory()
    stale = Retrainer(factory=factory).run(request(world, "rr-stale"), registry=registry, traces=store)
    assert stale.outcome == "rejected" and factory.fits == 0
    assert [c.name for c in stale.gate_report.checks] == ["request_current"]
    assert registry.get_alias(MODEL, "production") == decision.version


def test_a_candidate_that_flips_too_much_is_rejected_and_the_alias_stays(world: World) -> None:
    # A systematic bad labeller: known "balance" requests "corrected" to "transfer". With noise filtering
    # switched off, training on them teaches the model to break balance questions it answered right.
    registry, store = world.registry(), world.traces()
    production = registry.load_adapter(MODEL, world.production)
    known = set(world.scenario.base_train) | set(world.scenario.base_gate) | set(world.scenario.base_validation)
    balance = [e for e in load_clinc150(CLINC, "train") if e.label == "balance" and e not in known][:30]
    bad = [
        labeled_trace(
            e,
            out,
            model=MODEL,
            version=world.production,
            task="classification",
            at=3000.0 + i,
            expected=Output(label="transfer"),
        )
        for i, (e, out) in enumerate(zip(balance, production.predict([e.text for e in balance]), strict=True))
    ]
    store.add(bad)
    store.attach_pattern("p-bad", [t.request_id for t in bad])
    no_filter = Diagnoser(noise=NeighbourNoiseDetector(max_ratio=0.0, model_max_support=0.0, min_model_confidence=1.0))
    # Production judged by its gate set, no coverage: the surgical band, whose warm starts are blended (and BCWI)
    retrainer = Retrainer(diagnoser=no_filter, band_score="gate", coverage_below=0.8)

    decision = retrainer.run(request(world, "rr-bad", iterations=1, pattern="p-bad"), registry=registry, traces=store)

    assert decision.outcome == "rejected"
    flips = next(c for c in decision.gate_report.checks if c.name == "negative_flips")
    assert not flips.passed and flips.observed > 2
    assert registry.get_alias(MODEL, "production") == world.production
    assert [r.to_version for r in registry.alias_history(MODEL, "production")] == [world.production]
    rejection = decision.events[0]
    assert rejection.event_type == "release_rejection" and rejection.production_version == world.production
    assert "negative_flips" in rejection.reason
    # none passed, so every candidate was judged, and the record keeps each one's failed checks
    assert decision.candidates and all(c["gate"] is not None for c in decision.candidates)
    assert all(not c["gate"]["passed"] and c["gate"]["failed"] for c in decision.candidates)
    # the weight searched against R (BCWI) found blends that keep R's contract; the unfixable pattern still fails
    searched = [c for c in decision.candidates if "@bcwi" in c["recipe"]["name"]]
    assert searched and all("regression_set_flips" not in c["gate"]["failed"] for c in searched)
    # ... and every flip budget the gate applies on the gate set: ε against production and the ratchet
    assert all(f.split(":")[0] not in FLIP_CHECKS for c in searched for f in c["gate"]["failed"])
    assert all("negative_flips" in c["gate"]["failed"] for c in decision.candidates if "@" not in c["recipe"]["name"])
    # a head fitted from the base model is blended toward production too (its line mixes the two heads' logits)
    assert any("@" in c["recipe"]["name"] and not c["recipe"]["warm_start"] for c in decision.candidates)
    judged = next(c for c in decision.candidates if c["chosen"])
    assert judged["gate"]["failed"] == [c.name for c in decision.gate_report.checks if not c.passed]
    EventCodec().encode(rejection)
    assert registry.get_manifest(MODEL, decision.version).blessed is False  # kept for audit, never promotable


class Crash(BaseException):
    """The process dies (not an exception any code catches)."""


class CrashOnFirstMove(FileRegistry):
    crashed = False

    def move_alias(self, *args, **kwargs):
        if not CrashOnFirstMove.crashed:
            CrashOnFirstMove.crashed = True
            raise Crash
        return super().move_alias(*args, **kwargs)


def test_a_crash_between_training_and_publishing_releases_exactly_once(world: World) -> None:
    factory = CountingFactory()
    with pytest.raises(Crash):  # decided and recorded, then died before moving the alias or publishing
        Retrainer(factory=factory).run(
            request(world, "rr-crash"), registry=world.registry(CrashOnFirstMove), traces=world.traces()
        )
    fits_before_restart = factory.fits
    assert world.registry().get_alias(MODEL, "production") == world.production

    published = []
    for _ in range(2):  # the restart, then a redelivery after publishing but before the offset commit
        decision = handle_request(
            request(world, "rr-crash"),
            registry=world.registry(),
            traces=world.traces(),
            retrainer=Retrainer(factory=factory),
        )
        published += decision.events
    assert factory.fits == fits_before_restart  # nothing retrained after the restart
    assert decision.outcome == "released" and decision.replayed
    releases = {e.event_id for e in published if e.event_type == "model_release"}
    assert len(releases) == 1  # one release id: downstream deduplication sees exactly one release
    registry = world.registry()
    assert registry.get_alias(MODEL, "production") == decision.version
    moves = [r for r in registry.alias_history(MODEL, "production") if r.request_id == "rr-crash"]
    assert len(moves) == 1


def test_the_naive_baseline_trains_on_everything_and_ships_without_a_gate(world: World) -> None:
    registry, store = world.registry(), world.traces()
    naive_request = dataclasses.replace(request(world, "rr-naive"), mode="naive")
    decision = handle_request(naive_request, registry=registry, traces=store)
    assert decision.outcome == "released" and decision.mode == "naive"
    assert registry.get_alias(MODEL, "production") == decision.version
    manifest = registry.get_manifest(MODEL, decision.version)
    assert manifest.mode == "naive" and manifest.gate_report.checks == [] and NAIVE_NOTE in manifest.gate_report.notes
    trained = {e.id for e in registry.get_dataset(MODEL, manifest.training_data)}
    assert {e.id for e in world.scenario.noise} | {"adv-1", "gib-1"} <= trained  # no filter: noise and attacks too
    assert "negative_flips" in decision.metrics  # the damage is still measured


def test_a_request_with_nothing_fixable_ends_in_a_rejection_that_says_why(world: World) -> None:
    registry, store = world.registry(), world.traces()
    store.attach_pattern("p-noise", [e.id for e in world.scenario.noise])
    factory = CountingFactory()
    decision = Retrainer(factory=factory).run(
        request(world, "rr-noise", pattern="p-noise"), registry=registry, traces=store
    )
    assert decision.outcome == "rejected" and decision.version is None and factory.fits == 0
    check = decision.gate_report.checks[0]
    assert check.name == "fixable_patterns" and not check.passed and "label_noise" in check.detail
    assert [e.event_type for e in decision.events] == ["release_rejection", "training_progress"]
    assert registry.get_alias(MODEL, "production") == world.production


def test_a_broken_request_fails_loudly_with_an_event(world: World) -> None:
    broken = dataclasses.replace(request(world, "rr-broken"), model=ModelRef(name="no-such-model", version="x"))
    decision = Retrainer().run(broken, registry=world.registry(), traces=world.traces())
    assert decision.outcome == "failed"
    (event,) = decision.events
    assert event.event_type == "training_progress" and event.stage == "failed" and "no-such-model" in event.message
    assert world.registry().get_request("no-such-model", "rr-broken") is None  # a redelivery retries


def test_the_live_band_score_is_production_accuracy_on_its_own_labelled_traffic(world: World) -> None:
    store = world.traces()
    seen = store.query(model=MODEL, version=world.production)
    accuracy = sum(t.outcome == "pass" for t in seen) / len(seen)
    assert 0.0 < accuracy < 1.0
    trust = label_trust(store, MODEL, world.production)
    assert trust.trusted_enough  # the scenario's labels are human
    assert choose_band(trust, band_score="auto", coverage_below=None, min_live_traces=len(seen)).live == pytest.approx(accuracy)
    # Too little traffic, or the gate score asked for: the gate score picks the band.
    assert choose_band(trust, band_score="live", coverage_below=None, min_live_traces=len(seen) + 1).live is None
    assert choose_band(trust, band_score="gate", coverage_below=None, min_live_traces=1).live is None
    with pytest.raises(ValueError, match="band_score"):
        Retrainer(band_score="validation")
