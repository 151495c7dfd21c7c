"""OpenAI-compatible ``POST /v1/chat/completions`` and ``GET /v1/models``, for generation models.

So existing clients (the ``openai`` SDK, LangChain, the trainer's teacher in :mod:`pioneer.curriculum.teacher`)
can point their base URL at ``http://host:port/v1``. What is served, and what is not:

- one conversation shape, the one the generation adapter trains on: system (or developer) messages, then one
  user message. History (assistant turns, several user turns) is refused with a 400 rather than rendered in a
  shape the model never saw in training.
- non-streaming only (``stream: true`` is a 400), one choice (``n`` > 1 is a 400: decoding is greedy, so the
  choices would be identical). ``temperature``, ``top_p``, ``max_tokens`` and other sampling fields are accepted
  and ignored: the adapter decodes greedily up to its configured ``max_new_tokens``.
- ``usage`` is null (the adapter does not expose token counts); ``system_fingerprint`` is the version id.

Every completion is an inference log like any prediction (``metadata.endpoint = "chat.completions"``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from pioneer.events import Input
from pioneer.serving import ModelNotReady
from streams.serving.limits import MAX_TEXT_CHARS
from streams.serving.runtime import Answered, ServingRuntime

SYSTEM_ROLES = ("system", "developer")


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = Field(max_length=64)
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str = Field(max_length=64)
    content: Annotated[str, Field(max_length=MAX_TEXT_CHARS)] | Annotated[list[ContentPart], Field(max_length=256)] | None = None
    name: str | None = Field(default=None, max_length=256)


class ChatCompletionRequest(BaseModel):
    """The OpenAI request body; fields not listed are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(max_length=256, description="The served model's name (or its version id).")
    messages: list[ChatMessage] = Field(min_length=1, max_length=256)
    n: int | None = None
    stream: bool | None = None
    temperature: float | None = Field(default=None, description="Ignored: decoding is greedy.")
    max_tokens: int | None = Field(default=None, description="Ignored: the model's max_new_tokens applies.")
    user: str | None = None


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop"]
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    system_fingerprint: str = Field(description="The version id that answered.")
    choices: list[Choice]
    usage: None = None


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


class ChatError(Exception):
    """A request the endpoint refuses, answered in OpenAI's error shape."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def response(self, request_id: str, version: str | None) -> Response:
        body = {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}
        return Response(orjson.dumps(body), status_code=self.status, media_type="application/json",
                        headers={"x-request-id": request_id, "x-model-version": version or "none"})


def conversation(messages: list[ChatMessage]) -> tuple[str | None, str]:
    """(system prompt, user text) of a single-turn conversation; :class:`ChatError` for any other shape."""
    system: list[str] = []
    turns: list[ChatMessage] = []
    for message in messages:
        if message.role in SYSTEM_ROLES:
            system.append(_text(message))
        else:
            turns.append(message)
    if len(turns) != 1 or turns[0].role != "user":
        roles = [m.role for m in turns]
        raise ChatError(
            400,
            f"only single-turn conversations are served (system messages, then one user message); got turns {roles}. "
            "The model was trained on that shape.",
            param="messages",
        )
    prompt, text = ("\n\n".join(system) if system else None), _text(turns[0])
    if len(text) + len(prompt or "") > MAX_TEXT_CHARS:
        raise ChatError(400, f"the conversation has {len(text) + len(prompt or '')} characters; at most "
                        f"{MAX_TEXT_CHARS} are served", param="messages", code="context_length_exceeded")
    if not text:
        raise ChatError(400, "the user message has no text", param="messages")
    return prompt, text


def _text(message: ChatMessage) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    parts = []
    for part in message.content:
        if part.type != "text" or part.text is None:
            raise ChatError(400, f"content parts of type {part.type!r} are not supported (text only)", param="messages")
        parts.append(part.text)
    return "".join(parts)


def chat_router(runtime: ServingRuntime, remember: Callable[[str, int], None] | None = None,
                responses: dict[int | str, dict[str, Any]] | None = None) -> APIRouter:
    """The two OpenAI-compatible routes, bound to ``runtime``; ``remember`` is told each answered request's id and
    text length (feedback is checked against it); ``responses`` documents the answers the middlewares give."""
    router = APIRouter(prefix="/v1", tags=["openai"])
    name = runtime.config.model

    guarded = responses or {}

    @router.get("/models", response_model=ModelList, summary="The served model, as OpenAI's model list",
                responses={k: v for k, v in guarded.items() if k in (401, 403)})
    async def models() -> Response:
        served = runtime.slot.current
        data = []
        if served is not None:
            data.append({"id": name, "object": "model", "created": int(served.loaded_at), "owned_by": "pioneer",
                         "version": served.version, "task": served.task})
        return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")

    @router.post(
        "/chat/completions",
        response_model=ChatCompletion,
        summary="OpenAI-compatible chat completion (generation models; non-streaming)",
        responses={**guarded,
                   400: {"description": "Unsupported request (streaming, n > 1, multi-turn, not a generation model)"},
                   404: {"description": "Unknown model"}, 503: {"description": "No model loaded yet"}},
    )
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
        started = time.perf_counter()
        request_id: str = request.state.request_id
        served = runtime.slot.current
        try:
            if served is None:
                raise ChatError(503, "no model is loaded yet", kind="server_error", code="model_not_ready")
            if body.model not in (name, served.version):
                raise ChatError(404, f"model {body.model!r} is not served here; this server serves {name!r}",
                                param="model", code="model_not_found")
            if served.task != "generation":
                raise ChatError(400, f"{name!r} is a {served.task} model; chat completions need a generation model",
                                param="model")
            if body.stream:
                raise ChatError(400, "streaming is not supported; send stream=false", param="stream")
            if body.n is not None and body.n != 1:
                raise ChatError(400, "only n=1 is supported (decoding is greedy)", param="n")
            system, text = conversation(body.messages)
            item = Input(text=text, system_prompt=system)
            try:
                served, (output,) = await runtime.predict([item])
            except ModelNotReady as exc:
                raise ChatError(503, str(exc), kind="server_error", code="model_not_ready") from None
        except ChatError as exc:
            return exc.response(request_id, None if served is None else served.version)
        latency_ms = (time.perf_counter() - started) * 1000
        if remember is not None:
            remember(request_id, len(text))
        runtime.log_answers(served, [Answered(request_id, item, output, {"endpoint": "chat.completions"})], latency_ms)
        payload: dict[str, Any] = {
            "id": f"chatcmpl-{request_id}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": name,
            "system_fingerprint": served.version,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": output.text or ""},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": None,
        }
        return Response(orjson.dumps(payload), media_type="application/json",
                        headers={"x-request-id": request_id, "x-model-version": served.version})

    return router
