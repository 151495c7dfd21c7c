"""The retrain loop on generation, with real LoRA training of SmolLM2-135M (slow on a CPU: minutes).

The task is answering with the banking intent's name. The deployed model never saw "spending_history";
traffic asks for it (a fixable pattern). Planted noise: near-copies of training requests whose
"correction" names the wrong intent, which the near-duplicate vote must catch. A local teacher (the same
SmolLM2 through the generation adapter) is exercised too.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from pioneer.curriculum import LocalTeacher, augment
from pioneer.events import (
    Budget,
    EventCodec,
    ModelRef,
    Output,
    PatternRef,
    RetrainRequest,
)
from pioneer.gates import RegressionGate
from pioneer.registry import FileRegistry
from pioneer.retrain import Retrainer, train_first_version
from pioneer.traces import TraceStore, labeled_trace
from pioneer.training import Example, GenerationAdapter, GenerationConfig
from tests.unit.retrain.scenario import NEW, banking

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("PIONEER_TEST_TRAINING") != "all",
        reason="fine-tunes a transformer for minutes on a CPU; set PIONEER_TEST_TRAINING=all to run",
    ),
]

MODEL = "intent-writer"
# A high LoRA learning rate: a 135M model must pick up ten odd label names in a few dozen steps.
CONFIG = GenerationConfig(
    learning_rate=1e-3,
    epochs=4.0,
    max_length=96,
    max_new_tokens=8,
    batch_size=8,
    system_prompt="Answer with the name of the banking intent of the request, nothing else.",
)


def as_generation(examples: list[Example]) -> list[Example]:
    return [dataclasses.replace(e, label=None, target=e.label) for e in examples]


def test_a_new_intent_gets_learned_and_contradicted_copies_stay_out(tmp_path: Path, pioneer_cache) -> None:
    scenario = banking(n_train=6, n_val=2, n_gate=3, n_new=16, n_passes=10)
    registry = FileRegistry(tmp_path / "registry")
    first = train_first_version(
        MODEL,
        "generation",
        as_generation(scenario.base_train),
        validation=as_generation(scenario.base_validation),
        gate_set=as_generation(scenario.base_gate),
        registry=registry,
        config=CONFIG,
        gate=RegressionGate(metric_floor=0.0),  # a first tiny generator is weak; the retrain is what is tested
    )
    assert first.released, first.gate_report
    production = registry.load_adapter(MODEL, first.version)

    new = as_generation(scenario.new_intent)
    copies = [
        dataclasses.replace(e, id=f"copy-{e.id}", text=e.text + " please")
        for e in as_generation(scenario.base_train[:4])
    ]
    passes = as_generation(scenario.passes)
    at = 3000.0
    pattern, others = [], []
    for group, into, wrong in ((new, pattern, False), (copies, pattern, True), (passes, others, False)):
        for e, out in zip(group, production.predict([e.text for e in group]), strict=True):
            at += 1
            into.append(
                labeled_trace(
                    e,
                    out,
                    model=MODEL,
                    version=first.version,
                    task="generation",
                    at=at,
                    expected=Output(text=NEW) if wrong else None,
                )
            )
    store = TraceStore(tmp_path / "traces.sqlite")
    store.add(pattern + others)
    store.attach_pattern("p-new", [t.request_id for t in pattern])
    request = RetrainRequest(
        event_id="rr-gen",
        timestamp=4000.0,
        request_id="rr-gen",
        model=ModelRef(name=MODEL, version=first.version),
        patterns=[PatternRef(pattern_id="p-new", name="spending")],
        reason="test",
        budget=Budget(max_iterations=1, max_candidates=2),
    )

    decision = Retrainer().run(request, registry=registry, traces=store)

    assert decision.version is not None and decision.released == decision.gate_report.passed
    verdicts = decision.diagnosis["patterns"][0]["verdicts"]
    assert all(verdicts[e.id] == "label_noise" for e in copies)
    manifest = registry.get_manifest(MODEL, decision.version)
    trained = {e.id.split("#")[0] for e in registry.get_dataset(MODEL, manifest.training_data)}
    assert not {e.id for e in copies} & trained
    unseen = [
        Example(id=f"u{i}", text=t, target=NEW)
        for i, t in enumerate(
            [
                "how much did i spend on groceries last month",
                "what have i spent at target this week",
                "tell me my spending on gas in may",
                "how much money went to restaurants lately",
            ]
        )
    ]
    before = production.evaluate(unseen).metric
    after = registry.load_adapter(MODEL, decision.version).evaluate(unseen).metric
    assert before == 0.0 and after >= 0.5, (before, after)
    for event in decision.events:
        EventCodec().encode(event)


def test_the_local_teacher_paraphrases_through_the_generation_adapter(pioneer_cache) -> None:
    teacher = LocalTeacher(GenerationAdapter(GenerationConfig(max_new_tokens=48, system_prompt="")).use_base_model())
    gold = [Example(id="g1", text="how much did i spend on coffee this week", label="spending_history")]
    out = augment("classification", gold, teacher, per_example=2)
    assert 1 <= len(out) <= 2
    assert all(e.label == "spending_history" and e.id.startswith("aug:g1:") and e.text != gold[0].text for e in out)
