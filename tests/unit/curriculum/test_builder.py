"""CurriculumBuilder: 2-for-1 hard negatives from the confused class, replay share, label balance, no eval leakage."""

from __future__ import annotations

from collections import Counter

import pytest

from pioneer.curriculum import CurriculumBuilder, balance, label_ratio
from pioneer.events import Output
from pioneer.training import Example
from tests.unit.retrain.scenario import NEW, banking


@pytest.fixture(scope="module")
def scenario():
    return banking()


def build(scenario, **kwargs):
    gold = scenario.new_intent[:12]
    confusions = {e.id: Output(label="transactions" if i % 2 else "balance") for i, e in enumerate(gold)}
    params = dict(exclude=scenario.base_gate + scenario.base_validation)
    params.update(kwargs)
    return CurriculumBuilder().build(
        "classification",
        gold,
        scenario.base_train + scenario.passes,
        confusions=confusions,
        replay=scenario.passes,
        **params,
    ), gold


def test_every_gold_gets_a_hard_negative_with_another_answer(scenario) -> None:
    curriculum, gold = build(scenario)
    roles = curriculum.composition()
    assert roles["gold"] == len(gold)
    negatives = [i for i in curriculum.items if i.role == "hard_negative"]
    assert len(negatives) == len(gold)
    assert all(i.example.label != NEW for i in negatives)
    assert {i.pairs_with for i in negatives} == {g.id for g in gold}
    # the confused class is preferred: gold confused with "balance" get a balance example when one exists
    balance_pairs = [i for i in negatives if i.pairs_with in {g.id for k, g in enumerate(gold) if k % 2 == 0}]
    assert all(i.example.label == "balance" for i in balance_pairs)


def test_replay_share_and_label_balance(scenario) -> None:
    curriculum, _ = build(scenario)
    share = curriculum.composition()["replay"] / len(curriculum.items)
    assert 0.05 <= share <= 0.35
    assert curriculum.label_ratio() is not None and curriculum.label_ratio() <= 3.0


def test_nothing_from_an_evaluation_set_enters_by_id_or_by_text(scenario) -> None:
    gold = scenario.new_intent[:12]
    leaked_text = Example(id="someone-else", text=gold[0].text.upper() + "  ", label=NEW)
    curriculum, _ = build(scenario, exclude=[gold[1], leaked_text, *scenario.base_train[:30]])
    ids = {i.example.id for i in curriculum.items}
    assert gold[0].id not in ids and gold[1].id not in ids
    assert not ids & {e.id for e in scenario.base_train[:30]}
    assert curriculum.excluded_eval >= 32


def test_no_gold_means_an_empty_curriculum_with_a_note(scenario) -> None:
    curriculum = CurriculumBuilder().build("classification", [], scenario.base_train)
    assert curriculum.items == [] and curriculum.notes


def test_balance_tops_up_then_drops_the_least_valuable() -> None:
    gold = [("gold", Example(id=f"g{i}", text="x", label="a")) for i in range(9)]
    negatives = [("hard_negative", Example(id=f"h{i}", text="y", label="b")) for i in range(2)]
    kept, added, dropped = balance(gold + negatives, [], ratio=3.0)
    counts = Counter(e.label for _, e in kept)
    assert counts["a"] <= 3 * counts.get("b", counts["a"]) and added == 0
    assert all(role == "gold" for role, e in kept if e.label == "a") and dropped > 0
    # with a pool, the rare label is topped up instead
    pool = [Example(id=f"r{i}", text="z", label="b") for i in range(5)]
    kept, added, dropped = balance(gold + negatives, pool, ratio=3.0)
    assert added == 1 and dropped == 0 and label_ratio([e for _, e in kept]) <= 3.0


def test_builder_validates_and_clones() -> None:
    with pytest.raises(ValueError, match="replay_share"):
        CurriculumBuilder(replay_share=1.0)
    assert CurriculumBuilder().clone(replay_share=0.3).replay_share == 0.3
