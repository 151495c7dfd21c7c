"""The log generator: exact rates, disjoint splits, ground truth that matches the noise kind."""

from __future__ import annotations

import pytest

from pioneer.bench import LogGenerator, allot, category_of
from pioneer.bench.sources import ArithmeticSource, IntentSource, banking_source
from pioneer.synthetic.arithmetic import ArithmeticTask
from pioneer.training import Example

INTENT_FIX = {"typo": 1.0, "preamble": 1.0, "new_phrasing": 2.0, "number_distractor": 1.0, "paraphrase_drift": 1.0}
INTENT_POISON = {"mislabel": 2.0, "clustered_flip": 2.0, "prompt_injection": 1.0, "jailbreak": 1.0}


def test_allot_is_exact_and_proportional() -> None:
    assert sum(allot(37, {"a": 3.0, "b": 1.0, "c": 1.0}).values()) == 37
    assert allot(8, {"a": 3.0, "b": 1.0}) == {"a": 6, "b": 2}
    assert allot(0, {"a": 1.0}) == {"a": 0}


def test_rejects_a_mix_with_the_wrong_category() -> None:
    with pytest.raises(ValueError, match="poison_mix"):
        LogGenerator(fixable_mix={"typo": 1.0}, poison_mix={"typo": 1.0})
    with pytest.raises(ValueError, match="poison_rates"):
        LogGenerator(fixable_mix={}, poison_mix={}, poison_rates=(1.2,))


@pytest.fixture(scope="module")
def banking_logs():
    gen = LogGenerator(logs_per_stage=100, fixable_mix=INTENT_FIX, poison_mix=INTENT_POISON, seed=3)
    return gen.generate(banking_source(per_intent=5, seed=3), prefix="t")


def test_stage_rates_and_splits(banking_logs) -> None:
    for stage, rate in zip(banking_logs.stages, (0.15, 0.25, 0.40), strict=True):
        logs = stage.logs
        assert len(logs) == 100
        assert sum(log.poisoned for log in logs) == round(rate * 100)
        assert sum(log.category == "fixable" for log in logs) == 30
        assert len(stage.test) == pytest.approx(30, abs=4)
        assert all(log.split == "test" for log in stage.test) and all(log.split == "train" for log in stage.train)
    ids = [log.id for stage in banking_logs.stages for log in stage.logs]
    assert len(ids) == len(set(ids))
    assert len(banking_logs.heldout) == sum(len(s.test) for s in banking_logs.stages)


def test_held_out_texts_never_appear_in_training_logs(banking_logs) -> None:
    train_texts = {log.example.text for s in banking_logs.stages for log in s.train}
    assert not train_texts & {log.example.text for log in banking_logs.heldout}


def test_feedback_is_wrong_exactly_for_label_poison(banking_logs) -> None:
    for log in (log for s in banking_logs.stages for log in s.logs):
        wrong = log.feedback.label != log.example.label
        assert wrong == (log.category == "poison"), log
        if log.kind == "clustered_flip":
            assert log.pattern is not None and log.pattern.endswith("->" + str(log.feedback.label))
        if log.kind == "new_phrasing":
            assert log.pattern == "new_phrasing:transfer" and log.example.label == "transfer"


def test_same_seed_same_logs() -> None:
    def make():
        gen = LogGenerator(logs_per_stage=40, fixable_mix=INTENT_FIX, poison_mix=INTENT_POISON, seed=1)
        return gen.generate(banking_source(per_intent=5, seed=1), prefix="t")

    a, b = make(), make()
    assert [(l.id, l.example.text, l.feedback, l.kind) for l in a.heldout] == [
        (l.id, l.example.text, l.feedback, l.kind) for l in b.heldout
    ]


def test_a_finite_pool_runs_out_loudly() -> None:
    ex = [Example(id=str(i), text=f"t{i}", label="ab"[i % 2]) for i in range(20)]
    source = IntentSource(base=ex[:2], validation=[], gate=[], traffic=ex[2:], families={}, flips={})
    gen = LogGenerator(logs_per_stage=30, fixable_mix={"typo": 1.0}, poison_mix={"mislabel": 1.0})
    with pytest.raises(ValueError, match="exhausted"):
        gen.generate(source, prefix="t")


def test_arithmetic_ground_truth() -> None:
    task = ArithmeticTask(seed=0, largest=9)
    gen = LogGenerator(
        logs_per_stage=60,
        fixable_mix={"number_distractor": 1.0, "paraphrase_drift": 1.0, "typo": 1.0},
        poison_mix={k: 1.0 for k in ("mislabel", "clustered_flip", "number_swap", "negation_flip", "false_premise",
                                     "prompt_injection", "jailbreak")},
    )
    logs = gen.generate(ArithmeticSource(task, base=10, validation=5, gate=5), prefix="a")
    for log in (log for s in logs.stages for log in s.logs):
        assert category_of(log.kind) == log.category
        truth, said = int(log.example.target), int(log.feedback.text)
        assert (truth != said) == log.poisoned, log
        if log.kind in ("clean", "paraphrase_drift"):
            assert task.solve(log.example.text) == truth
    base_texts = {e.text for e in ArithmeticSource(task, base=10, validation=5, gate=5).base_sets().train}
    assert not base_texts & {log.example.text for s in logs.stages for log in s.logs}


def test_entity_feedback_points_at_its_words_and_is_right_unless_poison() -> None:
    from pioneer.bench.sources import EntitySource
    from pioneer.events import Span

    def booking(i: int) -> Example:
        text = f"Dinner for {i % 7 + 2} people with Anna Berg at Luigi Place on Friday {i}"
        spans = []
        for word, label in ((f"{i % 7 + 2} people", "people"), ("Anna", "first_name"), ("Friday", "date")):
            start = text.index(word)
            spans.append(Span(start=start, end=start + len(word), label=label, text=word))
        return Example(id=f"r{i}", text=text, spans=tuple(spans))

    pool = [booking(i) for i in range(400)]
    source = EntitySource(base=pool[:10], validation=[], gate=[], traffic=pool[10:],
                          types=["people", "first_name", "date", "time"], flip=("people", "time"))
    fixable = {"typo": 1.0, "preamble": 1.0, "truncation": 1.0, "number_distractor": 1.0, "paraphrase_drift": 1.0}
    poison = {"mislabel": 1.0, "clustered_flip": 1.0, "prompt_injection": 1.0, "jailbreak": 1.0}
    logs = LogGenerator(logs_per_stage=60, fixable_mix=fixable, poison_mix=poison, seed=2).generate(source, prefix="e")
    seen = set()
    for log in (log for s in logs.stages for log in s.logs):
        text = log.example.text
        assert all(text[s.start : s.end] == s.text for s in log.feedback.spans or ()), log
        if log.category != "poison":
            assert log.feedback == log.example.expected(), log
        seen.add(log.kind)
    assert {"typo", "preamble", "jailbreak"} <= seen
