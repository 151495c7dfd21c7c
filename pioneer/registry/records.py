"""What the registry stores besides weights: version manifests, alias moves and stored evaluations.

These are plain dataclasses written as JSON. A manifest is written once, when its version is created, and
never changed (versions are immutable); alias moves are appended to a history that is never rewritten.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from pioneer.events import AliasMove, GateReport, Span, from_dict
from pioneer.training.base import Evaluation, Example

MoveKind = Literal["release", "rollback", "set"]


@dataclass(slots=True, kw_only=True)
class VersionInfo:
    """What the caller knows about a version it registers (the registry adds name, hash, files and time)."""

    parent: str | None = None
    """The version this one was retrained to replace (None for a first model)."""
    base_model: str | None = None
    training_data: str | None = None
    """Content hash of the training set, as returned by ``Registry.put_dataset``."""
    eval_sets: dict[str, str] = field(default_factory=dict)
    """Named datasets (``gate``, ``validation``, ...) this version was evaluated on -> their content hashes."""
    recipe: dict[str, Any] = field(default_factory=dict)
    """Adapter config and the data mix that produced the weights."""
    metrics: dict[str, float] = field(default_factory=dict)
    gate_report: GateReport | None = None
    request_id: str | None = None
    mode: str | None = None
    """How it was made: ``train`` (first model), ``pioneer`` (diagnosed retrain) or ``naive``."""


@dataclass(slots=True, kw_only=True)
class VersionManifest(VersionInfo):
    """Everything known about one immutable version, stored as ``manifest.json`` beside its weights."""

    model: str
    version: str
    task: str
    created: float
    files: dict[str, str]
    """Path of every file the adapter saved (relative to the version's ``model/`` directory) -> its sha256."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VersionManifest:
        data = dict(data)
        report = data.pop("gate_report", None)
        manifest = cls(**data)
        manifest.gate_report = None if report is None else from_dict(GateReport, report)
        return manifest

    @property
    def blessed(self) -> bool:
        """True only with a gate report that passed (TFX's blessing: promotion reads only this)."""
        return self.gate_report is not None and self.gate_report.passed


@dataclass(slots=True, kw_only=True, frozen=True)
class AliasRecord:
    """One line of a model's append-only alias history."""

    seq: int
    """Position in the model's history (0, 1, 2, ...): makes event ids built from it deterministic."""
    alias: str
    from_version: str | None
    to_version: str
    kind: MoveKind
    at: float
    reason: str = ""
    request_id: str | None = None

    def move(self) -> AliasMove:
        return AliasMove(name=self.alias, from_version=self.from_version, to_version=self.to_version)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AliasRecord:
        return cls(**data)


@dataclass(slots=True, kw_only=True)
class StoredEvaluation:
    """A version's per-example results on one stored dataset: what the cross-checkpoint gate compares against."""

    dataset: str
    """Content hash of the dataset (``Registry.get_dataset``)."""
    metric_name: str
    metric: float
    ids: list[str]
    correct: list[bool]

    @classmethod
    def of(cls, dataset: str, evaluation: Evaluation) -> StoredEvaluation:
        """What ``evaluation`` (of the dataset whose hash is ``dataset``) leaves for later gates to compare against."""
        return cls(dataset=dataset, metric_name=evaluation.metric_name, metric=evaluation.metric,
                   ids=list(evaluation.ids), correct=list(evaluation.correct))

    def correct_by_id(self) -> dict[str, bool]:
        return dict(zip(self.ids, self.correct, strict=True))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredEvaluation:
        return cls(**data)


def example_to_dict(example: Example) -> dict[str, Any]:
    """JSON form of an :class:`~pioneer.training.Example` (None fields left out, spans as objects)."""
    data: dict[str, Any] = {"id": example.id, "text": example.text}
    if example.label is not None:
        data["label"] = example.label
    if example.spans is not None:
        data["spans"] = [dataclasses.asdict(span) for span in example.spans]
    if example.target is not None:
        data["target"] = example.target
    if example.system_prompt is not None:
        data["system_prompt"] = example.system_prompt
    return data


def example_from_dict(data: dict[str, Any]) -> Example:
    spans = data.get("spans")
    return Example(
        id=data["id"],
        text=data["text"],
        label=data.get("label"),
        spans=None if spans is None else tuple(Span(**span) for span in spans),
        target=data.get("target"),
        system_prompt=data.get("system_prompt"),
    )
