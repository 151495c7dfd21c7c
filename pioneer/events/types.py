"""Python types that mirror the event contracts in ``schemas/``.

One dataclass per event type (and one per nested object). Field names, optionality and nesting follow the
JSON Schema of the same name exactly; ``tests/unit/test_event_types.py`` checks the two agree, so a change
to a schema that is not made here too fails the suite.

Optional fields default to ``None`` and are written as JSON ``null`` (the schemas accept ``null`` for every
optional field), which lets orjson serialise the dataclasses directly without a dict detour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

Task = Literal["classification", "entity_extraction", "generation"]
Source = Literal["human", "judge", "rule"]
Verdict = Literal["pass", "fail"]
PatternState = Literal["born", "growing", "stable", "fading", "merged"]
TrainingStage = Literal[
    "queued", "diagnosing", "curriculum", "training", "evaluating", "gating", "releasing", "released", "rejected", "failed"
]
DeadLetterError = Literal["decode", "schema", "unknown_type", "processing"]

TASKS: tuple[str, ...] = ("classification", "entity_extraction", "generation")


# ---------------------------------------------------------------------------------------------------- nested objects


@dataclass(slots=True, kw_only=True)
class ModelRef:
    """A deployed model: its name and the content hash of the version that served."""

    name: str
    version: str


@dataclass(slots=True, kw_only=True)
class ModelName:
    """A model named without (or before knowing) its version."""

    name: str
    version: str | None = None


@dataclass(slots=True, kw_only=True, frozen=True)
class Span:
    """A labelled character span ``[start, end)`` of the input text."""

    start: int
    end: int
    label: str
    text: str | None = None

    def key(self) -> tuple[int, int, str]:
        """Identity used for span-level exact match: (start, end, label)."""
        return (self.start, self.end, self.label)


@dataclass(slots=True, kw_only=True)
class Output:
    """A model output or its correction: a label, spans or text (whichever the task uses)."""

    label: str | None = None
    scores: dict[str, float] | None = None
    spans: list[Span] | None = None
    text: str | None = None


@dataclass(slots=True, kw_only=True)
class Input:
    """What the model was asked: the user text (embedded for clustering), and for generation the system prompt."""

    text: str
    system_prompt: str | None = None
    context: dict[str, Any] | None = None


@dataclass(slots=True, kw_only=True)
class Failure:
    """Why a trace failed: a wrong label, a span set that differs, or a judge's fail verdict."""

    kind: Literal["misclassification", "span_mismatch", "judged_fail"]
    expected_label: str | None = None
    predicted_label: str | None = None
    missed_spans: list[Span] | None = None
    spurious_spans: list[Span] | None = None


@dataclass(slots=True, kw_only=True)
class Confusion:
    expected: str
    predicted: str
    count: int


@dataclass(slots=True, kw_only=True)
class Exemplar:
    request_id: str
    text: str
    expected: str | None = None
    predicted: str | None = None


@dataclass(slots=True, kw_only=True)
class PatternRef:
    """A pattern named in a retrain request."""

    pattern_id: str
    name: str
    failures: int | None = None
    failure_rate: float | None = None


@dataclass(slots=True, kw_only=True)
class Budget:
    """How much work one retrain request may spend."""

    max_iterations: int
    max_candidates: int
    max_train_seconds: float | None = None


@dataclass(slots=True, kw_only=True)
class TriggerDecision:
    """Why the trigger asked for a retrain now: the mode its failure breadth chose and the pacing evidence."""

    mode: Literal["broad", "concentrated", "both"]
    pacing: str
    detail: str
    traces: int
    failures: int
    failure_rate_lower: float
    new_failures: int
    required_failures: int
    pattern_share: float | None = None
    top_share: float | None = None
    clusters: int | None = None
    labels: int | None = None
    rejections: int | None = None


@dataclass(slots=True, kw_only=True)
class GateCheck:
    """One check of the release gate: what was observed against which threshold."""

    name: str
    passed: bool
    detail: str
    observed: float | None = None
    threshold: float | None = None


@dataclass(slots=True, kw_only=True)
class GateReport:
    """The release gate's verdict and every check behind it (an artifact stored with the candidate)."""

    passed: bool
    baseline_version: str | None
    checks: list[GateCheck]
    notes: list[str]
    candidate_version: str | None = None


@dataclass(slots=True, kw_only=True)
class AliasMove:
    """An alias (``production``, ``candidate``, ...) moved from one version to another."""

    name: str
    from_version: str | None
    to_version: str


@dataclass(slots=True, kw_only=True)
class DeadLetterSource:
    """Where a dead letter was read from."""

    topic: str
    partition: int
    offset: int
    key_b64: str | None = None
    consumer: str | None = None


# ---------------------------------------------------------------------------------------------------- events


@dataclass(slots=True, kw_only=True)
class Event:
    """Fields every event carries. ``event_id`` is what consumers deduplicate on."""

    EVENT_TYPE: ClassVar[str] = ""
    SCHEMA_VERSION: ClassVar[int] = 1

    event_id: str
    timestamp: float
    event_type: str = ""
    schema_version: int = 1

    def __post_init__(self) -> None:
        # The discriminator always matches the class, so a caller never has to set it.
        self.event_type = self.EVENT_TYPE
        self.schema_version = self.SCHEMA_VERSION


@dataclass(slots=True, kw_only=True)
class InferenceLog(Event):
    EVENT_TYPE: ClassVar[str] = "inference_log"

    request_id: str
    model: ModelRef
    task: Task
    input: Input
    prediction: Output
    latency_ms: float
    metadata: dict[str, Any] | None = None


@dataclass(slots=True, kw_only=True)
class Label(Event):
    EVENT_TYPE: ClassVar[str] = "label"

    request_id: str
    source: Source
    model: ModelName | None = None
    expected: Output | None = None
    verdict: Verdict | None = None
    reason: str | None = None
    judge: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


@dataclass(slots=True, kw_only=True)
class LabeledTrace(Event):
    EVENT_TYPE: ClassVar[str] = "labeled_trace"

    request_id: str
    model: ModelRef
    task: Task
    input: Input
    prediction: Output
    outcome: Verdict
    source: Source
    log_event_id: str
    label_event_id: str
    served_at: float
    labeled_at: float
    expected: Output | None = None
    verdict: Verdict | None = None
    reason: str | None = None
    failure: Failure | None = None
    latency_ms: float | None = None
    metadata: dict[str, Any] | None = None


@dataclass(slots=True, kw_only=True)
class ErrorPattern(Event):
    EVENT_TYPE: ClassVar[str] = "error_pattern"

    pattern_id: str
    model: ModelName
    state: PatternState
    emerging: bool
    name: str
    size: float
    failures_recent: int
    failure_rate: float
    failure_rate_lower: float
    growth: float
    confusions: list[Confusion]
    exemplars: list[Exemplar]
    first_seen: float
    last_seen: float
    keywords: list[str] | None = None
    passes_recent: int | None = None
    traffic_share: float | None = None
    merged_into: str | None = None
    members: list[str] | None = None


@dataclass(slots=True, kw_only=True)
class RetrainRequest(Event):
    EVENT_TYPE: ClassVar[str] = "retrain_request"

    request_id: str
    model: ModelRef
    patterns: list[PatternRef]
    reason: str
    budget: Budget
    mode: Literal["pioneer", "naive"] | None = None
    requested_by: str | None = None
    metadata: dict[str, Any] | None = None
    decision: TriggerDecision | None = None


@dataclass(slots=True, kw_only=True)
class TrainingProgress(Event):
    EVENT_TYPE: ClassVar[str] = "training_progress"

    request_id: str
    model: ModelName
    stage: TrainingStage
    iteration: int | None = None
    candidate: str | None = None
    step: int | None = None
    total_steps: int | None = None
    progress: float | None = None
    metrics: dict[str, float] | None = None
    message: str | None = None


@dataclass(slots=True, kw_only=True)
class ModelRelease(Event):
    EVENT_TYPE: ClassVar[str] = "model_release"

    model: ModelRef
    parent_version: str | None
    alias: AliasMove
    metrics: dict[str, float]
    gate_report: GateReport
    request_id: str | None = None
    task: Task | None = None
    base_model: str | None = None
    artifact_uri: str | None = None


@dataclass(slots=True, kw_only=True)
class ReleaseRejection(Event):
    EVENT_TYPE: ClassVar[str] = "release_rejection"

    model: ModelRef
    production_version: str | None
    gate_report: GateReport
    reason: str
    request_id: str | None = None
    metrics: dict[str, float] | None = None


@dataclass(slots=True, kw_only=True)
class ModelRollback(Event):
    EVENT_TYPE: ClassVar[str] = "model_rollback"

    model: ModelRef
    alias: AliasMove
    reason: str
    requested_by: str | None = None


@dataclass(slots=True, kw_only=True)
class DeadLetter(Event):
    EVENT_TYPE: ClassVar[str] = "dead_letter"

    source: DeadLetterSource
    error: DeadLetterError
    reason: str
    payload_b64: str
    payload_bytes: int | None = None
    payload_sha256: str | None = None
    payload_truncated: bool | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    cls.EVENT_TYPE: cls
    for cls in (
        InferenceLog,
        Label,
        LabeledTrace,
        ErrorPattern,
        RetrainRequest,
        TrainingProgress,
        ModelRelease,
        ReleaseRejection,
        ModelRollback,
        DeadLetter,
    )
}
"""Every event type by its ``event_type`` discriminator."""
