"""The retrain loop on generation, with real LoRA training of SmolLM2-135M on a CPU.

The task is answering with the name of a banking request's intent. The deployed model knows four intents and
never saw "spending_history"; traffic asks for it (a fixable pattern). Planted noise: popular requests, which
the deployed model answers right again and again, re-labelled "spending_history"; the near-duplicate vote
must catch them. A local teacher (the same SmolLM2 through the generation adapter) is exercised too.

Kept to about a minute on two quiet CPU cores: a few dozen examples, two epochs, a four-word system prompt,
sequences under 48 tokens, answers of at most 8 tokens, and one iteration of two candidates.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pioneer.curriculum import LocalTeacher, augment
from pioneer.events import Budget, EventCodec, ModelRef, PatternRef, RetrainRequest
from pioneer.gates import RegressionGate
from pioneer.registry import FileRegistry
from pioneer.retrain import Retrainer, train_first_version
from pioneer.traces import TraceStore, labeled_trace
from pioneer.training import Example, GenerationAdapter, GenerationConfig
from tests.unit.retrain.scenario import NEW, WRITER_MODEL, intent_writer

pytestmark = pytest.mark.slow

# A high LoRA learning rate and batches of two: a 135M model must pick up five odd answer names from a few
# dozen examples in two epochs. Small batches give it the steps; the cost is the tokens trained on, not the steps.
CONFIG = GenerationConfig(
    learning_rate=3e-3,
    epochs=2.0,
    max_length=48,
    max_new_tokens=8,
    batch_size=2,
    lora_r=8,
    system_prompt="Name the banking intent.",
)


def test_a_new_intent_gets_learned_and_contradicted_repeats_stay_out(tmp_path: Path, pioneer_cache: Path) -> None:
    scenario = intent_writer()
    registry = FileRegistry(tmp_path / "registry")
    first = train_first_version(
        WRITER_MODEL,
        "generation",
        scenario.base_train,
        validation=scenario.base_validation,
        gate_set=scenario.base_gate,
        registry=registry,
        config=CONFIG,
        gate=RegressionGate(metric_floor=0.0),  # a first tiny generator is weak; the retrain is what is tested
    )
    assert first.released, first.gate_report
    production = registry.load_adapter(WRITER_MODEL, first.version)

    at = 3000.0
    pattern, others = [], []
    for group, into in ((scenario.new_intent, pattern), (scenario.noise, pattern), (scenario.passes, others)):
        for e, out in zip(group, production.predict([e.text for e in group]), strict=True):
            at += 1
            into.append(
                labeled_trace(e, out, model=WRITER_MODEL, version=first.version, task="generation", at=at)
            )
    # the planted noise contradicts requests production answers right, repeatedly: that is what makes it noise
    repeats = [t for t in others if ":again" in t.request_id]
    assert sum(t.outcome == "pass" for t in repeats) >= 3 * len(scenario.noise) // 2, [
        (t.input.text, t.prediction.text) for t in repeats
    ]
    store = TraceStore(tmp_path / "traces.sqlite")
    store.add(pattern + others)
    store.attach_pattern("p-new", [t.request_id for t in pattern])
    request = RetrainRequest(
        event_id="rr-gen",
        timestamp=4000.0,
        request_id="rr-gen",
        model=ModelRef(name=WRITER_MODEL, version=first.version),
        patterns=[PatternRef(pattern_id="p-new", name="spending")],
        reason="test",
        budget=Budget(max_iterations=1, max_candidates=2),
    )

    decision = Retrainer().run(request, registry=registry, traces=store)

    assert decision.version is not None and decision.released == decision.gate_report.passed
    assert registry.get_alias(WRITER_MODEL, "production") == (decision.version if decision.released else first.version)
    # the planted mislabels were caught by the near-duplicate vote and never trained on
    verdicts = decision.diagnosis["patterns"][0]["verdicts"]
    noisy = {e.id for e in scenario.noise}
    assert all(verdicts[i] == "label_noise" for i in noisy), {i: verdicts[i] for i in noisy}
    assert sum(verdicts[e.id] == "fixable" for e in scenario.new_intent) >= len(scenario.new_intent) - 1
    manifest = registry.get_manifest(WRITER_MODEL, decision.version)
    trained = {e.id.split("#")[0] for e in registry.get_dataset(WRITER_MODEL, manifest.training_data)}
    assert not noisy & trained and {e.id for e in scenario.new_intent} & trained
    # the pattern is fixed by the judged candidate, on requests nobody trained, selected or gated on
    assert not {e.text for e in scenario.unseen_new} & {e.text for e in scenario.new_intent}
    before = production.evaluate(scenario.unseen_new)
    after = registry.load_adapter(WRITER_MODEL, decision.version).evaluate(scenario.unseen_new)
    assert before.metric == 0.0 and after.metric >= 0.5, [p.text for p in after.predictions]
    for event in decision.events:
        EventCodec().encode(event)


def test_the_local_teacher_paraphrases_through_the_generation_adapter(pioneer_cache: Path) -> None:
    teacher = LocalTeacher(GenerationAdapter(GenerationConfig(max_new_tokens=48, system_prompt="")).use_base_model())
    gold = [Example(id="g1", text="how much did i spend on coffee this week", label=NEW)]
    out = augment("classification", gold, teacher, per_example=2)
    assert 1 <= len(out) <= 2
    assert all(e.label == NEW and e.id.startswith("aug:g1:") and e.text != gold[0].text for e in out)
