"""Request and response bodies of the HTTP API (pydantic), which is what the OpenAPI description is built from.

Responses are written with orjson straight from the event dataclasses (the ``response_model`` declarations
only document them): a prediction is the same :class:`~pioneer.events.Output` the inference log carries.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from pioneer.serving.records import MAX_REQUEST_ID
from streams.serving.limits import (
    MAX_LABEL_CHARS,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    MAX_TEXT_CHARS,
    REQUEST_ID_PATTERN,
    check_metadata,
)

Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]
OptionalText = Annotated[str | None, Field(default=None, max_length=MAX_TEXT_CHARS)]
Metadata = Annotated[
    dict[str, Any] | None,
    AfterValidator(check_metadata),
    Field(default=None, description=f"At most {MAX_METADATA_DEPTH} levels deep and {MAX_METADATA_BYTES} bytes as JSON."),
]
RequestIdText = Annotated[str, Field(min_length=1, max_length=MAX_REQUEST_ID, pattern=REQUEST_ID_PATTERN)]
RequestId = Field(default=None, description="Your id for this request (printable ASCII, no spaces); the "
                  "X-Request-ID header, or a fresh id, when absent. Send it back with feedback.")


class SpanBody(BaseModel):
    """A labelled character span ``[start, end)`` of the input text."""

    model_config = ConfigDict(extra="forbid")
    start: int = Field(ge=0, le=MAX_TEXT_CHARS)
    end: int = Field(ge=0, le=MAX_TEXT_CHARS)
    label: str = Field(min_length=1, max_length=MAX_LABEL_CHARS)
    text: OptionalText = None

    @model_validator(mode="after")
    def _ordered(self) -> SpanBody:
        if self.end < self.start:
            raise ValueError(f"span end {self.end} is before its start {self.start}")
        return self


class PredictionBody(BaseModel):
    """A model output: ``label`` and ``scores`` (classification), ``spans`` (entity extraction) or ``text`` (generation)."""

    label: str | None = None
    scores: dict[str, float] | None = None
    spans: list[SpanBody] | None = None
    text: str | None = None


class ModelBody(BaseModel):
    name: str
    version: str = Field(description="Content hash of the version that answered.")
    task: str


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text = Field(description=f"The input text (at most {MAX_TEXT_CHARS} characters).")
    system_prompt: OptionalText = Field(default=None, description="Generation only: the system prompt (default: the model's).")
    request_id: RequestIdText | None = RequestId
    context: Metadata = Field(default=None, description="Logged with the input (not shown to the model).")
    metadata: Metadata = Field(default=None, description="Logged with the inference (tenant, client, ...).")


class PredictResponse(BaseModel):
    request_id: str
    model: ModelBody
    prediction: PredictionBody
    latency_ms: float


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text
    system_prompt: OptionalText = None
    request_id: RequestIdText | None = Field(default=None, description="Default: '<batch request id>-<index>'.")
    context: Metadata = None


class BatchPredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: list[BatchItem] = Field(min_length=1, description="Answered together, by one model version.")
    request_id: RequestIdText | None = RequestId
    metadata: Metadata = None


class BatchResult(BaseModel):
    request_id: str
    prediction: PredictionBody


class BatchPredictResponse(BaseModel):
    request_id: str
    model: ModelBody
    results: list[BatchResult]
    latency_ms: float


class FeedbackRequest(BaseModel):
    """A label (the expected output) or a verdict for an earlier request, published to the labels topic."""

    model_config = ConfigDict(extra="forbid")
    request_id: RequestIdText = Field(description="The request being labelled.")
    label: str | None = Field(default=None, min_length=1, max_length=MAX_LABEL_CHARS,
                              description="Classification: the right label (one the model knows).")
    spans: list[SpanBody] | None = Field(default=None, max_length=1024,
                                         description="Entity extraction: the right spans (within the text, known types).")
    text: OptionalText = Field(default=None, description="Generation: a right answer.")
    verdict: Literal["pass", "fail"] | None = Field(default=None, description="A judgement without a correction.")
    source: Literal["human", "judge", "rule"] = "human"
    reason: OptionalText = None
    judge: Metadata = Field(default=None, description="Judge model, prompt and score, when source=judge.")
    metadata: Metadata = None
    model_version: str | None = Field(default=None, min_length=1, max_length=128, pattern=REQUEST_ID_PATTERN,
                                      description="The version that answered, if the client kept it.")

    @model_validator(mode="after")
    def _says_something(self) -> FeedbackRequest:
        if self.label is None and self.spans is None and self.text is None and self.verdict is None:
            raise ValueError("feedback needs label, spans, text or verdict")
        return self


class FeedbackResponse(BaseModel):
    request_id: str
    event_id: str | None = Field(description="The published label's event id (null for a duplicate).")
    status: Literal["accepted", "duplicate"] = Field(
        description="accepted (202): published; duplicate (200): this source already labelled this request.")


class Health(BaseModel):
    status: Literal["alive"]


class Readiness(BaseModel):
    ready: bool
    model: str
    alias: str
    version: str | None
    task: str | None
    loading: str | None = Field(description="A version being loaded now, if any.")
    last_swap_error: str | None
    releases: dict[str, Any] = Field(description="Whether the release topic is followed and its history read.")
    broker: dict[str, Any] = Field(description="Whether Kafka is reachable (serving goes on either way).")
    logging: dict[str, Any] = Field(description="Events in memory, in flight and spilled to disk.")


class ErrorBody(BaseModel):
    error: str


class InvalidBody(BaseModel):
    error: str = Field(description="Every refused field and why, with the limit it broke.")
    detail: list[dict[str, Any]] | None = Field(default=None, description="One entry per field: loc, msg, type.")
