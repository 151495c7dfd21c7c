"""Scores that need the generator's ground truth: how well the noise diagnosis separated poison from fixable
failures, which planted patterns the clustering recovered, and what each method trained on.

A failure counts as *flagged* when the diagnosis kept it out of training for a reason of its own (label noise,
adversarial input, out of scope, no correction); ``already_fixed`` failures are left out of the counts (they
are neither trained on nor a judgement about the label). Poison is the positive class:

- precision: flagged failures that were poison / flagged failures;
- recall: flagged poison / diagnosed poison.

Per noise kind the score is the flagged share: for poison kinds that is the recall, for fixable and clean
kinds it is the rate of good data wrongly thrown away.

>>> from pioneer.bench.logs import SyntheticLog
>>> from pioneer.events import Output
>>> from pioneer.training import Example
>>> def log(i, kind):
...     return SyntheticLog(example=Example(id=i, text="t", label="a"), feedback=Output(label="a"), kind=kind,
...                         stage=0, split="train")
>>> logs = {"1": log("1", "mislabel"), "2": log("2", "typo"), "3": log("3", "mislabel")}
>>> s = diagnosis_scores({"1": "label_noise", "2": "label_noise", "3": "fixable"}, logs)
>>> s.precision, s.recall, s.per_kind["mislabel"]
(0.5, 0.5, {'diagnosed': 2, 'flagged': 1, 'share': 0.5})
>>> negative_flips({"a": True, "b": False}, {"a": False, "b": True}), fixed({"a": True, "b": False}, {"a": False, "b": True})
(1, 1)
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pioneer.bench.logs import SyntheticLog

FLAGGED = frozenset({"label_noise", "adversarial", "out_of_scope", "no_correction"})


def negative_flips(before: Mapping[str, bool], after: Mapping[str, bool]) -> int:
    """Examples right before and wrong after."""
    return sum(1 for i, ok in before.items() if ok and not after.get(i, False))


def fixed(before: Mapping[str, bool], after: Mapping[str, bool]) -> int:
    """Examples wrong before and right after."""
    return sum(1 for i, ok in before.items() if not ok and after.get(i, False))


@dataclass(slots=True)
class DiagnosisScore:
    """Poison detection quality of one diagnosis against the ground truth."""

    diagnosed: int = 0
    flagged: int = 0
    true_positive: int = 0
    poison: int = 0
    per_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    verdicts: dict[str, dict[str, int]] = field(default_factory=dict)
    """Noise kind -> verdict -> count."""

    @property
    def precision(self) -> float | None:
        return self.true_positive / self.flagged if self.flagged else None

    @property
    def recall(self) -> float | None:
        return self.true_positive / self.poison if self.poison else None

    def to_dict(self) -> dict[str, object]:
        return {
            "diagnosed": self.diagnosed,
            "flagged": self.flagged,
            "poison": self.poison,
            "true_positive": self.true_positive,
            "precision": self.precision,
            "recall": self.recall,
            "per_kind": self.per_kind,
            "verdicts": self.verdicts,
        }


def diagnosis_scores(verdicts: Mapping[str, str], logs: Mapping[str, SyntheticLog]) -> DiagnosisScore:
    """Score ``verdicts`` (request id -> verdict) against the logs' ground truth."""
    score = DiagnosisScore()
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for request_id, verdict in verdicts.items():
        log = logs.get(request_id)
        if log is None:
            continue
        by_kind[log.kind][verdict] += 1
        if verdict == "already_fixed":
            continue
        flagged = verdict in FLAGGED
        score.diagnosed += 1
        score.flagged += flagged
        score.poison += log.poisoned
        score.true_positive += flagged and log.poisoned
    _summarise_kinds(score, by_kind)
    return score


def merge_scores(scores: Iterable[DiagnosisScore]) -> DiagnosisScore:
    """Pool several diagnoses (one per stage) into one score."""
    total = DiagnosisScore()
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    for s in scores:
        total.diagnosed += s.diagnosed
        total.flagged += s.flagged
        total.true_positive += s.true_positive
        total.poison += s.poison
        for kind, counts in s.verdicts.items():
            kinds[kind].update(counts)
    _summarise_kinds(total, kinds)
    return total


def _summarise_kinds(score: DiagnosisScore, verdicts_by_kind: Mapping[str, Counter[str]]) -> None:
    """Fill ``score``'s per-kind flagged share and verdict counts from each noise kind's verdict counts."""
    for kind, counts in sorted(verdicts_by_kind.items()):
        diagnosed = sum(n for v, n in counts.items() if v != "already_fixed")
        flagged = sum(n for v, n in counts.items() if v in FLAGGED)
        score.per_kind[kind] = {"diagnosed": diagnosed, "flagged": flagged,
                                "share": flagged / diagnosed if diagnosed else 0.0}
        score.verdicts[kind] = dict(sorted(counts.items()))


@dataclass(frozen=True, slots=True)
class Recovery:
    """How well one planted pattern was found among a stage's failures."""

    pattern: str
    failures: int
    """Its logs that failed (what clustering could see)."""
    best_cluster: str | None
    precision: float
    """Share of the best cluster's failures that belong to the planted pattern."""
    recall: float
    """Share of the planted pattern's failures in the best cluster."""
    retrained: float
    """Share of its failures that reached the trainer (in any kept pattern)."""

    @property
    def recovered(self) -> bool:
        """One cluster holds at least half of its failures and is at least half made of them."""
        return self.precision >= 0.5 and self.recall >= 0.5

    def to_dict(self) -> dict[str, object]:
        return {"pattern": self.pattern, "failures": self.failures, "best_cluster": self.best_cluster,
                "precision": self.precision, "recall": self.recall, "retrained": self.retrained,
                "recovered": self.recovered}


def pattern_recovery(
    failure_cluster: Mapping[str, str],
    kept: Iterable[str],
    failures: Iterable[str],
    logs: Mapping[str, SyntheticLog],
    *,
    min_failures: int = 3,
) -> list[Recovery]:
    """For every planted pattern with at least ``min_failures`` failing logs: its best-matching cluster.

    ``failure_cluster`` maps failing request ids to the cluster they were assigned (outliers absent),
    ``kept`` lists the patterns sent to the trainer, ``failures`` every failing request id of the stage.
    """
    kept = set(kept)
    planted: dict[str, list[str]] = defaultdict(list)
    for request_id in failures:
        log = logs.get(request_id)
        if log is not None and log.pattern is not None:
            planted[log.pattern].append(request_id)
    cluster_sizes = Counter(failure_cluster.values())
    out = []
    for pattern, ids in sorted(planted.items()):
        if len(ids) < min_failures:
            continue
        in_cluster = Counter(failure_cluster[i] for i in ids if i in failure_cluster)
        best, hits = (in_cluster.most_common(1)[0] if in_cluster else (None, 0))
        out.append(
            Recovery(
                pattern=pattern,
                failures=len(ids),
                best_cluster=best,
                precision=hits / cluster_sizes[best] if best else 0.0,
                recall=hits / len(ids),
                retrained=sum(1 for i in ids if failure_cluster.get(i) in kept) / len(ids),
            )
        )
    return out


def trained_counts(trained_ids: Iterable[str], logs: Mapping[str, SyntheticLog]) -> dict[str, int]:
    """How many logs of each category a training set holds (``#k`` repeat suffixes ignored)."""
    counts: Counter[str] = Counter()
    for request_id in {i.split("#", 1)[0] for i in trained_ids}:
        log = logs.get(request_id)
        if log is not None:
            counts[log.category] += 1
    return {c: counts.get(c, 0) for c in ("clean", "fixable", "poison")}
