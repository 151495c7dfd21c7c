"""Bodies of the OpenAI-compatible routes (pydantic, so the OpenAPI description is built from them), and which
request fields are honoured, which are refused and why.

OpenAI's own API answers an unknown field with a 400 naming it; so does this one, and a known field that is not
served (``tools``, ``response_format`` other than text, ``logprobs``, penalties) is refused the same way unless
it carries its no-op value, so that no request is answered as if a field it sent had been honoured.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from streams.serving.decoding import MAX_CHOICES, MAX_COMPLETION_TOKENS
from streams.serving.limits import MAX_TEXT_CHARS
from streams.serving.openai_errors import ChatError

MAX_STOP_CHARS = 256


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = Field(max_length=64)
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str = Field(max_length=64)
    content: Annotated[str, Field(max_length=MAX_TEXT_CHARS)] | Annotated[list[ContentPart], Field(max_length=256)] | None = None
    name: str | None = Field(default=None, max_length=256)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool | None = Field(default=None, description="Send a last chunk with the usage (empty choices).")


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = Field(max_length=64, description="Only `text` is served; anything else is a 400.")


StopText = Annotated[str, Field(min_length=1, max_length=MAX_STOP_CHARS)]


class ChatCompletionRequest(BaseModel):
    """OpenAI's request body. Fields not listed here are refused with a 400 naming them, as are `tools`,
    `tool_choice`, `functions`, `logprobs`, `logit_bias`, non-zero penalties and other features not served."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(max_length=256, description="The served model's name (or its version id).")
    messages: list[ChatMessage] = Field(min_length=1, max_length=256,
                                        description="System (or developer) messages, then one user message.")
    max_completion_tokens: int | None = Field(default=None, ge=1, le=MAX_COMPLETION_TOKENS,
                                              description="Most tokens generated per choice (default: the model's "
                                              "configured max_new_tokens); finish_reason `length` when reached.")
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_COMPLETION_TOKENS,
                                   description="The older name of max_completion_tokens.")
    stop: StopText | Annotated[list[StopText], Field(max_length=4)] | None = Field(
        default=None, description="Up to 4 sequences; the answer ends before the first one generated.")
    temperature: float | None = Field(default=None, ge=0, le=2,
                                      description="Sampling temperature; absent or 0: greedy decoding.")
    top_p: float | None = Field(default=None, ge=0, le=1, description="Nucleus sampling (samples at temperature 1 "
                                "when no temperature is given).")
    seed: int | None = Field(default=None, ge=-(2**63), lt=2**63, description="Makes sampling repeatable.")
    n: int | None = Field(default=None, ge=1, le=MAX_CHOICES, description="Choices to generate.")
    stream: bool | None = Field(default=None, description="Answer as server-sent events (chat.completion.chunk).")
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    user: str | None = Field(default=None, max_length=256, description="Logged with the inference.")


NEUTRAL: dict[str, Callable[[Any], bool]] = {
    "tools": lambda v: not v,
    "tool_choice": lambda v: v in (None, "none"),
    "parallel_tool_calls": lambda v: v is None,
    "functions": lambda v: not v,
    "function_call": lambda v: v in (None, "none"),
    "logprobs": lambda v: v in (None, False),
    "top_logprobs": lambda v: v in (None, 0),
    "logit_bias": lambda v: not v,
    "frequency_penalty": lambda v: v in (None, 0),
    "presence_penalty": lambda v: v in (None, 0),
    "store": lambda v: v in (None, False),
    "metadata": lambda v: v is None,
    "service_tier": lambda v: v in (None, "auto", "default"),
    "modalities": lambda v: v in (None, ["text"]),
    "audio": lambda v: v is None,
    "prediction": lambda v: v is None,
    "reasoning_effort": lambda v: v is None,
    "web_search_options": lambda v: v is None,
}
"""Known OpenAI fields that are not served, and the values that ask nothing of them (accepted)."""


def refuse_unserved(body: ChatCompletionRequest) -> None:
    """:class:`ChatError` (400, naming the field) for the first field this server would otherwise ignore."""
    for name, value in (body.model_extra or {}).items():
        if name not in NEUTRAL:
            raise ChatError(400, f"unrecognized request argument supplied: {name}", param=name,
                            code="unsupported_parameter")
        if not NEUTRAL[name](value):
            raise ChatError(400, f"{name} is not supported by this server (plain text generation only); "
                            "remove it from the request", param=name, code="unsupported_parameter")
    if body.response_format is not None and body.response_format.type != "text":
        raise ChatError(400, f"response_format {body.response_format.type!r} is not supported: the model is not "
                        "constrained to JSON; only {'type': 'text'} is served", param="response_format",
                        code="unsupported_parameter")
    if body.stream_options is not None and not body.stream:
        raise ChatError(400, "stream_options is only allowed when stream is true", param="stream_options")
    if body.max_tokens is not None and body.max_completion_tokens not in (None, body.max_tokens):
        raise ChatError(400, "max_tokens and max_completion_tokens differ; send one of them", param="max_tokens")


# ---------------------------------------------------------------------------------------------------- answers


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str
    refusal: None = None


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] = Field(description="stop: end of turn or a stop sequence; length: "
                                                     "max_completion_tokens reached.")
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int = Field(description="Tokens of the rendered prompt (chat template included).")
    completion_tokens: int = Field(description="Tokens generated over all choices (end-of-turn tokens included).")
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    system_fingerprint: str = Field(description="The version id that answered.")
    choices: list[Choice]
    usage: Usage


class ChunkDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: ChunkDelta
    finish_reason: Literal["stop", "length"] | None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    """One server-sent event of a streamed completion (`data: {...}`); the stream ends with `data: [DONE]`."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    system_fingerprint: str
    choices: list[ChunkChoice]
    usage: Usage | None = Field(default=None, description="Only on the last chunk, with stream_options.include_usage.")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    version: str
    task: str


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelCard]
