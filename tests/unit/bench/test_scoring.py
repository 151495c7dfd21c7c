"""Scores against the ground truth: diagnosis precision and recall, pattern recovery, training composition."""

from __future__ import annotations

from pioneer.bench import diagnosis_scores, merge_scores, pattern_recovery, trained_counts
from pioneer.bench.logs import SyntheticLog
from pioneer.events import Output
from pioneer.training import Example


def _log(i: str, kind: str, pattern: str | None = None) -> SyntheticLog:
    return SyntheticLog(example=Example(id=i, text=i, label="a"), feedback=Output(label="a"), kind=kind, stage=0,
                        split="train", pattern=pattern)


LOGS = {
    "p1": _log("p1", "mislabel"), "p2": _log("p2", "jailbreak"), "p3": _log("p3", "clustered_flip"),
    "f1": _log("f1", "new_phrasing", "np:x"), "f2": _log("f2", "new_phrasing", "np:x"),
    "f3": _log("f3", "new_phrasing", "np:x"), "c1": _log("c1", "clean"),
}


def test_precision_recall_and_per_kind_shares() -> None:
    verdicts = {"p1": "label_noise", "p2": "adversarial", "p3": "fixable", "f1": "fixable", "f2": "label_noise",
                "f3": "already_fixed", "c1": "fixable"}
    score = diagnosis_scores(verdicts, LOGS)
    assert (score.diagnosed, score.flagged, score.poison, score.true_positive) == (6, 3, 3, 2)
    assert score.precision == 2 / 3 and score.recall == 2 / 3
    assert score.per_kind["new_phrasing"] == {"diagnosed": 2, "flagged": 1, "share": 0.5}
    assert score.verdicts["new_phrasing"] == {"already_fixed": 1, "fixable": 1, "label_noise": 1}
    pooled = merge_scores([score, score])
    assert (pooled.diagnosed, pooled.true_positive) == (12, 4) and pooled.precision == score.precision


def test_nothing_flagged_gives_no_precision() -> None:
    score = diagnosis_scores({"f1": "fixable"}, LOGS)
    assert score.precision is None and score.recall is None


def test_pattern_recovery() -> None:
    clusters = {"f1": "c0", "f2": "c0", "f3": "c0", "p1": "c0", "c1": "c1"}
    (rec,) = pattern_recovery(clusters, kept=["c0"], failures=list(LOGS), logs=LOGS)
    assert rec.pattern == "np:x" and rec.best_cluster == "c0" and rec.recall == 1.0 and rec.precision == 0.75
    assert rec.recovered and rec.retrained == 1.0
    (split,) = pattern_recovery({"f1": "c0", "f2": "c1"}, kept=[], failures=list(LOGS), logs=LOGS)
    assert not split.recovered and split.retrained == 0.0
    assert pattern_recovery(clusters, kept=[], failures=["f1", "f2"], logs=LOGS) == []  # below min_failures


def test_trained_counts_ignore_repeats_and_unknown_ids() -> None:
    assert trained_counts(["p1", "p1#1", "f1", "base:7"], LOGS) == {"clean": 0, "fixable": 1, "poison": 1}
