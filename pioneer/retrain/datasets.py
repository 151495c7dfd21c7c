"""The examples one retrain works with, and how they are split so every measurement is held out.

From the production version (via the registry) come its training set (the base every retrain starts from,
since every retrain starts from the base model), its gate set and its validation set. From the diagnosis
come the fixable failures of each target pattern, split by a stable hash of their request id into

- **gold** (trained on),
- **validation** (picks the best candidate; never trained on),
- **gate** (measures the pattern's fix rate in the gate; never trained on, never used for selection).

*Coverage* (recent fixable failures outside the target patterns, offered when production is weak) is split
into training material and validation only: it measures nothing in the gate, whose fix-rate checks are about
the target patterns.

Passing traffic is split the same way. A fixed share, chosen by request-id hash, is *reserved* for the
regression set R (:mod:`pioneer.retrain.regression_set`): with production's earlier R and earlier gate sets it
is what every candidate is gated on, and no training material (base data, replay, hard negatives, gold,
coverage, curriculum) ever holds one of its examples. Of the rest, a held-out share extends the gate set (more
of what production gets right to protect), the rest feeds hard negatives and replay. The new gate set is the
old one plus these held-out examples, so evaluation sets only grow: gains once accepted stay measured (the
ratchet).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pioneer.curriculum.balance import labels_of
from pioneer.curriculum.builder import Curriculum
from pioneer.diagnosis.report import DiagnosisReport
from pioneer.events import LabeledTrace, Output
from pioneer.gates.regression import CheckpointEval
from pioneer.registry import Registry, VersionManifest
from pioneer.retrain.regression_set import RegressionSet, RegressionSetBuilder
from pioneer.traces.examples import trace_to_example, unique_by_id
from pioneer.traces.holdout import is_reserved
from pioneer.training.base import Example


def stable_order(ids: Iterable[str], salt: str = "") -> list[str]:
    """``ids`` in an order fixed by their hash: the same split on every run, whatever order they came in.

    >>> stable_order(["b", "a", "c"]) == stable_order(["c", "b", "a"])
    True
    """
    return sorted(set(ids), key=lambda i: hashlib.sha256(f"{salt}{i}".encode()).hexdigest())


GATE_FRACTION = 0.3
"""Share of each target pattern's fixable failures held out for the gate (its pattern fix check)."""
VALIDATION_FRACTION = 0.2
"""Share held out for ranking candidates."""


def split_ids(
    ids: Sequence[str], *, gate_fraction: float, validation_fraction: float
) -> tuple[list[str], list[str], list[str]]:
    """Split into (gold, validation, gate). At least one gate example whenever there are two or more.

    >>> [len(part) for part in split_ids([str(i) for i in range(10)], gate_fraction=0.3, validation_fraction=0.2)]
    [5, 2, 3]
    """
    ordered = stable_order(ids, salt="split:")
    n = len(ordered)
    n_gate = max(1, round(n * gate_fraction)) if n >= 2 else 0
    n_val = round(n * validation_fraction) if n - n_gate >= 3 else 0
    gate, validation, gold = ordered[:n_gate], ordered[n_gate : n_gate + n_val], ordered[n_gate + n_val :]
    return gold, validation, gate


@dataclass(slots=True, kw_only=True)
class RetrainData:
    """Everything one retrain trains, selects and gates on."""

    task: str
    base_train: list[Example]
    gold: list[Example]
    confusions: dict[str, Output]
    pool: list[Example]
    """Hard-negative candidates: the base training set and passing traces (minus held-out ones)."""
    replay: list[Example]
    """Passing traces not held out."""
    coverage: list[Example]
    """Fixable failures outside the target patterns (empty unless production is weak), not held out."""
    validation: list[Example]
    gate_set: list[Example]
    pattern_gate: dict[str, list[str]]
    """Target pattern id -> ids of its held-out failures in the gate set."""
    slices: dict[str, list[str]]
    checkpoints: list[CheckpointEval]
    notes: list[str] = field(default_factory=list)
    regression: RegressionSet | None = None
    """R: reserved passing traffic and earlier sets, gated on, never trained on."""

    def regression_examples(self) -> list[Example]:
        return [] if self.regression is None else list(self.regression.examples)

    def regression_search(self) -> list[Example]:
        """R's search half (steers the weight search; never certifies)."""
        return [] if self.regression is None else self.regression.search_examples()

    def regression_certifying(self) -> list[Example]:
        """R's certifying half, without the examples the gate set's own checks judge on."""
        if self.regression is None:
            return []
        return self.regression.certifying_examples(exclude=[e.id for e in [*self.gate_set, *self.validation]])

    def evaluation_sets(self) -> list[Example]:
        """Everything that must never be trained on."""
        return [*self.gate_set, *self.validation, *self.regression_examples()]


def prepare(
    registry: Registry,
    manifest: VersionManifest,
    report: DiagnosisReport,
    traces: Sequence[LabeledTrace],
    passes: Sequence[LabeledTrace],
    *,
    coverage: Sequence[LabeledTrace] = (),
    reserved: Sequence[LabeledTrace] = (),
    regression: RegressionSetBuilder | None = None,
    gate_fraction: float = GATE_FRACTION,
    validation_fraction: float = VALIDATION_FRACTION,
    pass_holdout: float = 0.3,
    max_gate_passes: int = 200,
    checkpoint_depth: int = 2,
) -> RetrainData:
    """Assemble the retrain's data from the production ``manifest``, the diagnosis and the traces.

    ``traces`` are the target patterns' traces; ``passes`` are further passing traces of the model (recent
    traffic) for replay, hard negatives and the regression set. ``pass_holdout`` of them, at most
    ``max_gate_passes``, join the gate set: the regression set R of the reference system held about 200
    previously passing examples, and an absolute flip budget (epsilon) only means something against an R of
    known size. ``reserved`` are the reserved passing traces (the store's ``reserved=True`` query); reserved ones
    among ``passes`` join them. ``regression`` builds R from them and the earlier sets (default settings if None).
    """
    regression = regression or RegressionSetBuilder()
    model = manifest.model
    base_train = registry.get_dataset(model, manifest.training_data) if manifest.training_data else []
    old_gate = registry.get_dataset(model, manifest.eval_sets["gate"]) if "gate" in manifest.eval_sets else []
    old_val = (
        registry.get_dataset(model, manifest.eval_sets["validation"]) if "validation" in manifest.eval_sets else []
    )
    # Reserved passes belong to R, whatever list they came in: never split into training or the gate set.
    # A request whose trace now fails in a target pattern is no longer "what works", whatever it passed before.
    failing = {t.request_id for t in traces}
    reserved = [t for t in [*reserved, *passes] if is_reserved(t.request_id, regression.share)
                and t.request_id not in failing]
    passes = [t for t in passes if not is_reserved(t.request_id, regression.share)]
    by_id = {t.request_id: t for t in [*passes, *traces]}
    examples = {rid: e for rid, t in by_id.items() if (e := trace_to_example(t)) is not None}

    fixable = _split_fixable(report, examples, by_id, gate_fraction, validation_fraction)
    coverage_examples = {t.request_id: e for t in coverage if (e := trace_to_example(t)) is not None}
    coverage_ids = stable_order([i for i in coverage_examples if i not in examples], salt="coverage:")
    n_val = round(len(coverage_ids) * validation_fraction)
    c_val, c_gold = coverage_ids[:n_val], coverage_ids[n_val:]
    held, replay = _split_passes(by_id, examples, pass_holdout, max_gate_passes)
    checkpoints, stored_sets = _checkpoints(registry, manifest, checkpoint_depth)
    earlier = registry.get_dataset(model, manifest.eval_sets["regression"]) if "regression" in manifest.eval_sets else []
    earlier += [*old_gate, *stored_sets]

    gate_set = unique_by_id([*old_gate, *fixable.gate, *held, *stored_sets])
    gate_ids = {e.id for e in gate_set}
    validation = [e for e in unique_by_id([*old_val, *fixable.validation, *(coverage_examples[i] for i in c_val)])
                  if e.id not in gate_ids]
    pass_patterns = {i: p.pattern_id for p in report.fixable for i in p.pass_ids}
    r_set = regression.build(manifest.task, reserved, earlier, patterns=pass_patterns)
    eval_ids = gate_ids | {e.id for e in validation} | r_set.never_train()
    base_train = [e for e in base_train if e.id not in eval_ids]
    replay = [e for e in replay if e.id not in eval_ids]
    notes = [] if validation else ["no validation examples: candidates are ranked by their training order"]
    return RetrainData(
        task=manifest.task,
        base_train=base_train,
        gold=[e for e in fixable.gold if e.id not in r_set.never_train()],
        confusions=fixable.confusions,
        pool=[*base_train, *replay],
        replay=replay,
        coverage=[coverage_examples[i] for i in c_gold if i not in eval_ids],
        validation=validation,
        gate_set=gate_set,
        pattern_gate=fixable.pattern_gate,
        slices=_slices(gate_set, report, fixable.pattern_gate),
        checkpoints=checkpoints,
        notes=notes,
        regression=r_set,
    )


@dataclass(slots=True)
class _Fixable:
    """The fixable failures split into training (gold), validation and the gate set."""

    gold: list[Example] = field(default_factory=list)
    validation: list[Example] = field(default_factory=list)
    gate: list[Example] = field(default_factory=list)
    pattern_gate: dict[str, list[str]] = field(default_factory=dict)
    confusions: dict[str, Output] = field(default_factory=dict)
    """Gold id -> the production version's wrong output."""


def _split_fixable(
    report: DiagnosisReport,
    examples: Mapping[str, Example],
    by_id: Mapping[str, LabeledTrace],
    gate_fraction: float,
    validation_fraction: float,
) -> _Fixable:
    out = _Fixable()
    for pattern in report.fixable:
        ids = [i for i in pattern.ids("fixable") if i in examples]
        g, v, h = split_ids(ids, gate_fraction=gate_fraction, validation_fraction=validation_fraction)
        out.gold += [examples[i] for i in g]
        out.validation += [examples[i] for i in v]
        out.gate += [examples[i] for i in h]
        out.pattern_gate[pattern.pattern_id] = h
        out.confusions.update({i: by_id[i].prediction for i in g})
    return out


def _split_passes(
    by_id: Mapping[str, LabeledTrace], examples: Mapping[str, Example], pass_holdout: float, max_gate_passes: int
) -> tuple[list[Example], list[Example]]:
    """Passing traffic: ``pass_holdout`` of it (at most ``max_gate_passes``) for the gate set, the rest for replay."""
    pass_ids = [rid for rid, t in by_id.items() if t.outcome == "pass" and rid in examples]
    n_hold = min(round(len(pass_ids) * pass_holdout), max_gate_passes)
    ordered = stable_order(pass_ids, salt="passes:")
    return [examples[i] for i in ordered[:n_hold]], [examples[i] for i in ordered[n_hold:]]


def _checkpoints(
    registry: Registry, manifest: VersionManifest, depth: int
) -> tuple[list[CheckpointEval], list[Example]]:
    """Earlier checkpoints' stored gate results (the ratchet), and the examples they were judged on, which must be
    evaluated too."""
    checkpoints: list[CheckpointEval] = []
    examples: list[Example] = []
    current: str | None = manifest.version
    for _ in range(depth):
        if current is None:
            break
        stored = registry.get_evaluation(manifest.model, current, "gate")
        if stored is not None:
            checkpoints.append(CheckpointEval(version=current, correct=stored.correct_by_id()))
            examples += registry.get_dataset(manifest.model, stored.dataset)
        current = registry.get_manifest(manifest.model, current).parent
    return checkpoints, examples


def _slices(
    gate_set: Sequence[Example], report: DiagnosisReport, pattern_gate: Mapping[str, list[str]]
) -> dict[str, list[str]]:
    """Gate-set ids per label and per fixable pattern (its held-out failures and its passing members)."""
    slices: dict[str, list[str]] = {}
    for e in gate_set:
        for label in labels_of(e):
            slices.setdefault(f"label:{label}", []).append(e.id)
    gate_ids = {e.id for e in gate_set}
    for pattern in report.fixable:
        members = set(pattern_gate.get(pattern.pattern_id, [])) | (set(pattern.pass_ids) & gate_ids)
        slices[f"pattern:{pattern.pattern_id}"] = sorted(members)
    return slices


def training_set(
    base: Sequence[Example], curriculum: Curriculum, repeat: int, extra: Sequence[Example] = ()
) -> list[Example]:
    """Base data, ``extra`` data, then the curriculum ``repeat`` times (copies get distinct ids: ``<id>#<k>``)."""
    train = list(base)
    base_ids = {e.id for e in base}
    for e in extra:
        if e.id not in base_ids:
            train.append(e)
            base_ids.add(e.id)
    for k in range(max(1, repeat)):
        for e in curriculum.examples():
            if k == 0 and e.id in base_ids:
                continue  # replay drawn from the base data is already there once
            train.append(e if k == 0 else dataclasses.replace(e, id=f"{e.id}#{k}"))
    return train


def unique_examples(examples: Sequence[Example]) -> list[Example]:
    """One copy per example (repeats, ``id#k``, dropped), for storing a training set the next retrain starts from."""
    return unique_by_id(e if "#" not in e.id else dataclasses.replace(e, id=e.id.split("#", 1)[0]) for e in examples)
