"""The retrain loop on entity extraction, with real training of the slot tagger (MiniLM) on a CPU.

The deployed tagger knows dates and times but never saw a party size. Traffic brings "table for 4 people"
requests (a fixable pattern) and "tomorrow" requests whose planted correction calls the date a time (label
noise the span vote must catch).

Kept to under a minute on two CPU cores: 32 base utterances of at most 32 word pieces, five epochs of a few
steps each, one iteration of two candidates.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pioneer.events import Budget, EventCodec, ModelRef, PatternRef, RetrainRequest
from pioneer.registry import FileRegistry
from pioneer.retrain import Retrainer, train_first_version
from pioneer.traces import TraceStore
from pioneer.training import EntityExtractionConfig
from tests.unit.retrain.scenario import NER_MODEL, restaurant, span_traces

pytestmark = pytest.mark.slow

# Utterances are short: 32 word pieces hold them, and keep each step cheap on a CPU.
# About the loop, not training length: 500 sentences' steps on 32 utterances would train 15× as long.
CONFIG = EntityExtractionConfig(epochs=5.0, max_length=32, batch_size=16, calibrated_examples=None)


def check(report, name):
    return next(c for c in report.checks if c.name == name)


def test_party_sizes_get_learned_and_mislabelled_dates_stay_out(tmp_path: Path, pioneer_cache: Path) -> None:
    scenario = restaurant()
    registry = FileRegistry(tmp_path / "registry")
    first = train_first_version(
        NER_MODEL,
        "entity_extraction",
        scenario.base_train,
        validation=scenario.base_validation,
        gate_set=scenario.base_gate,
        registry=registry,
        config=CONFIG,
    )
    assert first.released, first.gate_report
    production = registry.load_adapter(NER_MODEL, first.version)
    pattern, others = span_traces(scenario, production.predict, version=first.version)
    # Failures outside the pattern: more party sizes (coverage a weak tagger may learn from) and more planted
    # "tomorrow is a time" mislabels (which the same diagnosis must keep out).
    outside = span_traces(
        dataclasses.replace(scenario, party=scenario.spare_party, noise=scenario.spare_noise, passes=[]),
        production.predict, version=first.version, start=5000.0,
    )[0]
    store = TraceStore(tmp_path / "traces.sqlite")
    store.add(pattern + others + outside)
    store.attach_pattern("p-party", [t.request_id for t in pattern])
    request = RetrainRequest(
        event_id="rr-party",
        timestamp=2000.0,
        request_id="rr-party",
        model=ModelRef(name=NER_MODEL, version=first.version),
        patterns=[PatternRef(pattern_id="p-party", name="party size")],
        reason="test",
        budget=Budget(max_iterations=1, max_candidates=2),
    )

    # coverage_below=1.0: the outside failures are gathered whatever production scores.
    decision = Retrainer(coverage_below=1.0).run(request, registry=registry, traces=store)

    # the judged candidate flips nothing production got right, so the gate releases it
    assert decision.outcome == "released" and decision.version is not None, decision.gate_report
    # the planted pattern is fixed by the judged candidate, on utterances nobody trained or gated on
    before = production.evaluate(scenario.unseen_party)
    after = registry.load_adapter(NER_MODEL, decision.version).evaluate(scenario.unseen_party)
    assert before.metric == 0.0 and sum(after.correct) / len(after.correct) >= 0.6, after.metric
    # the planted mislabels were caught by the span vote and never trained on
    verdicts = decision.diagnosis["patterns"][0]["verdicts"]
    noisy = {e.id for e in scenario.noise}
    assert all(verdicts[i] == "label_noise" for i in noisy)
    manifest = registry.get_manifest(NER_MODEL, decision.version)
    trained = {e.id.split("#")[0] for e in registry.get_dataset(NER_MODEL, manifest.training_data)}
    assert not noisy & trained
    # coverage: never gated on, mislabels never trained on, and the party sizes trained on where the band asks
    gate_ids = {e.id for e in registry.get_dataset(NER_MODEL, manifest.eval_sets["gate"])}
    spare_party, spare_noise = {e.id for e in scenario.spare_party}, {e.id for e in scenario.spare_noise}
    assert not (spare_party | spare_noise) & gate_ids and not spare_noise & trained
    with_coverage = [c for c in registry.get_request(NER_MODEL, "rr-party")["candidates"] if c["recipe"]["coverage"]]
    assert bool(with_coverage) == (decision.metrics["baseline_entity_f1"] < 0.80)
    validation = {e.id for e in registry.get_dataset(NER_MODEL, manifest.eval_sets["validation"])}
    if manifest.recipe["recipe"]["coverage"]:
        assert spare_party <= trained | validation and spare_party & trained
    # the release follows its gate report, moves the alias, and says so in valid events
    assert decision.gate_report.passed and check(decision.gate_report, "negative_flips").observed == 0
    assert registry.get_alias(NER_MODEL, "production") == decision.version
    codec = EventCodec()
    assert [codec.decode(codec.encode(event)) for event in decision.events] == decision.events
