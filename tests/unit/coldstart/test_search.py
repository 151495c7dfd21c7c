"""The evaluation set is frozen and never trained on; budget and target stop the search (real training, tiny)."""

from __future__ import annotations

import json

import pytest

from pioneer.coldstart import CandidateSearch, SimulatedTeacher, Sourced, run_coldstart
from pioneer.coldstart.curate import NEAR_DUPLICATE, exclude_evaluation
from pioneer.coldstart.evalset import build_eval_set, load_eval_set
from pioneer.coldstart.report import write_report
from pioneer.coldstart.sources import text_key
from pioneer.coldstart.task import analyse_task
from pioneer.errors import ConfigError
from pioneer.registry import FileRegistry
from pioneer.training.base import Example, TaskAdapter
from tests.unit.training.synthetic import INTENTS, intent_data

DESCRIPTION = "Route a user's request to a voice assistant to one of its intents."


def _jaccard(a: str, b: str) -> float:
    x, y = set(text_key(a).split()), set(text_key(b).split())
    return len(x & y) / len(x | y)


@pytest.fixture
def trained_texts(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The texts of every fit once the evaluation set is frozen, one list per fit (the real fit still runs).

    Before it is frozen only the teacher-label agreement check fits models (discarded fold models that decide
    which teacher labels are trusted enough to evaluate with); every candidate and, last, the release come after.
    """
    import pioneer.coldstart.run as run_module

    fits: list[list[str]] = []
    frozen = []
    real_fit, real_freeze = TaskAdapter.fit, run_module.frozen_eval_set

    def recording_fit(self, train, **kwargs):
        if frozen:
            fits.append([e.text for e in train])
        return real_fit(self, train, **kwargs)

    def freeze(*args, **kwargs):
        eval_set = real_freeze(*args, **kwargs)
        frozen.append(eval_set)
        return eval_set

    monkeypatch.setattr(TaskAdapter, "fit", recording_fit)
    monkeypatch.setattr(run_module, "frozen_eval_set", freeze)
    return fits


def test_evaluation_set_is_frozen_and_never_trained_on(tmp_path, pioneer_home, trained_texts) -> None:
    data = intent_data(14, seed=1, split="train")
    user = [e for e in data if int(e.id.rsplit(":", 1)[1]) < 3]
    pool = [e.text for e in data if e not in user]
    teacher = SimulatedTeacher({e.text: str(e.label) for e in data}, error_rate=0.2)
    workdir, registry = tmp_path / "work", FileRegistry(tmp_path / "reg")
    result = run_coldstart(DESCRIPTION, model="intents", registry=registry, workdir=workdir, labels=list(INTENTS),
                           examples=user, unlabeled=pool, teacher=teacher, budget_minutes=0.5, eval_per_label=4)

    eval_texts = [i.example.text for i in result.eval_set.items]
    gate_texts = {text_key(i.example.text) for i in result.eval_set.gate}
    validation_texts = {text_key(i.example.text) for i in result.eval_set.validation}
    gold = teacher.gold
    wrong = [i for i in result.eval_set.items if gold[text_key(i.example.text)] != i.example.label]
    acquired_wrong = sum(gold[text_key(t)] != label for t, label in _acquired(workdir))
    assert result.doubted > 0 and len(wrong) <= 1 < acquired_wrong  # the agreement check kept wrong labels out
    assert {i.source for i in result.eval_set.items} >= {"user"}  # the most trusted data went first
    assert len(trained_texts) >= 2, "no candidate and release were trained"
    *candidates, release = trained_texts
    candidate_texts = [t for fit in candidates for t in fit]
    assert not {text_key(t) for t in candidate_texts} & {text_key(t) for t in eval_texts}
    assert max(_jaccard(t, e) for t in candidate_texts for e in eval_texts) < NEAR_DUPLICATE
    # The release adds the validation half once the choice is made; the gate half that judges it stays unseen.
    released = {text_key(t) for t in release}
    assert not released & gate_texts and released & validation_texts
    gate_raw = [i.example.text for i in result.eval_set.gate]
    assert max(_jaccard(t, e) for t in release for e in gate_raw) < NEAR_DUPLICATE
    assert registry.get_alias("intents", "production") == result.decision.version
    assert len({a.iteration for a in result.search.attempts}) >= 1
    report = write_report(result).read_text()
    assert result.eval_set.hash in report and "## Lineage" in report

    # Frozen: the file on disk is what every later run uses, and a change to it is refused.
    assert load_eval_set(workdir / "eval.json").hash == result.eval_set.hash
    payload = json.loads((workdir / "eval.json").read_text())
    payload["gate"][0]["label"] = "music" if payload["gate"][0]["label"] != "music" else "alarm"
    (workdir / "eval.json").write_text(json.dumps(payload))
    with pytest.raises(ConfigError, match="modified"):
        load_eval_set(workdir / "eval.json")


def _acquired(workdir) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in (workdir / "acquired.jsonl").read_text().splitlines() if line.strip()]
    return [(r["text"], r["label"]) for r in rows if r.get("answered", True)]


def test_doubted_teacher_labels_come_last_in_the_evaluation_set() -> None:
    task = analyse_task("Classify into one of: a, b")
    items = [Sourced(Example(text=f"text {i}", label="ab"[i % 2], id=f"t{i}"), "teacher:x") for i in range(12)]
    doubted = {f"t{i}" for i in range(6)}
    eval_set = build_eval_set(items, task, per_label=3, doubted=doubted)
    assert {i.example.id for i in eval_set.items}.isdisjoint(doubted)
    # Too few trusted ones left: doubted labels fill the quota rather than leaving a label unjudged.
    assert len(build_eval_set(items, task, per_label=5, doubted=doubted).items) == 10


def test_ties_go_to_the_higher_validation_likelihood() -> None:
    from pioneer.coldstart.search import Attempt, Recipe, _best

    def attempt(n: int, score: float, likelihood: float | None) -> Attempt:
        return Attempt(id=n, iteration=0, parent=None, change_kind="seed", change="x", recipe=Recipe(),
                       score=score, likelihood=likelihood)

    assert _best([attempt(0, 0.9, -0.6), attempt(1, 0.9, -0.3), attempt(2, 0.8, -0.1)]).id == 1
    assert _best([attempt(0, 0.9, None), attempt(1, 0.9, None)]).id == 0  # then the earlier, simpler one


def test_near_duplicates_of_evaluation_texts_are_not_trained_on() -> None:
    task = analyse_task("Classify into one of: a, b")
    items = [Sourced(Example(text=f"please book table number {i}", label="ab"[i % 2], id=f"u{i}"), "user")
             for i in range(8)]
    eval_set = build_eval_set(items, task, per_label=4, user_share=0.5)
    copies = [Sourced(Example(text=i.example.text.upper() + "!", label="a", id=f"c{n}"), "teacher:x")
              for n, i in enumerate(eval_set.items)]
    kept = exclude_evaluation(items + copies, eval_set)
    assert {i.example.id for i in kept}.isdisjoint({i.example.id for i in eval_set.items})
    assert not [i for i in kept if i.example.id.startswith("c")]


def _items() -> tuple[list[Sourced], list[Example]]:
    train = [Sourced(e, "user") for e in intent_data(6, seed=2, split="train")]
    return train, intent_data(3, seed=3, split="validation")


def test_budget_stops_the_search_after_the_first_candidate() -> None:
    items, validation = _items()
    result = CandidateSearch(kind="classification", budget_seconds=0.0).run(items, validation)
    assert result.stop_reason == "budget"
    assert len(result.attempts) == 1 and result.best.score is not None


def test_target_stops_the_search_after_its_iteration() -> None:
    items, validation = _items()
    result = CandidateSearch(kind="classification", target=0.01).run(items, validation)
    assert result.stop_reason == "target"
    assert len(result.attempts) == 2  # an iteration trains at least two candidates
    assert {a.iteration for a in result.attempts} == {0}


def test_lineage_records_parents_changes_and_time() -> None:
    items, validation = _items()
    result = CandidateSearch(kind="classification", max_iterations=2, patience=5).run(items, validation)
    assert result.stop_reason == "max_iterations"
    first, second = ([a for a in result.attempts if a.iteration == k] for k in (0, 1))
    assert len(first) >= 2 and len(second) >= 2
    best_first = max(first, key=lambda a: (a.score, a.likelihood, -a.id))
    assert all(a.parent == best_first.id for a in second)
    assert all(a.seconds > 0 and a.change for a in result.attempts)
    assert len({a.recipe for a in result.attempts}) == len(result.attempts)  # no recipe is trained twice
