"""OpenAI-compatible ``POST /v1/chat/completions``, ``GET /v1/models`` and ``GET /v1/models/{model}``.

So existing clients (the ``openai`` SDK, LangChain, the trainer's teacher in :mod:`pioneer.curriculum.teacher`)
can point their base URL at ``http://host:port/v1``. What is served, and what is not:

- one conversation shape, the one the generation adapter trains on: system (or developer) messages, then one
  user message. History (assistant turns, several user turns) is refused with a 400 rather than rendered in a
  shape the model never saw in training.
- ``max_completion_tokens`` (or ``max_tokens``), ``stop``, ``temperature``/``top_p``/``seed`` (greedy unless
  asked), ``n`` up to :data:`~streams.serving.decoding.MAX_CHOICES`, ``stream`` (server-sent events in OpenAI's
  chunk format, ``stream_options.include_usage``), ``usage`` with real token counts, ``finish_reason`` ``stop``
  or ``length`` as it happened; ``system_fingerprint`` is the version id.
- fields that are not served (``tools``, ``response_format`` other than text, ...) are a 400 naming the field
  (see :mod:`.openai_schema`); every error is in OpenAI's shape (see :mod:`.openai_errors`).

Every choice answered is an inference log like any prediction (``metadata.endpoint = "chat.completions"``);
a stream the client left before its end is not logged.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from pioneer.events import Input, Output
from pioneer.serving import ServedModel
from streams.serving.decoding import ChatModel, Delta, Finished, Sampling
from streams.serving.limits import MAX_BODY_BYTES, MAX_TEXT_CHARS
from streams.serving.openai_errors import ChatError, OpenAIErrorBody
from streams.serving.openai_schema import (
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessage,
    ModelCard,
    ModelList,
    refuse_unserved,
)
from streams.serving.runtime import Answered, ServingRuntime

SYSTEM_ROLES = ("system", "developer")


def _error(description: str) -> dict[str, Any]:
    return {"model": OpenAIErrorBody, "description": description}


KEYS = {401: _error("No valid API key (`Authorization: Bearer KEY`; when keys are configured)"),
        403: _error("The API key does not grant the `predict` scope"),
        400: _error("The X-Request-ID header is not 1 to 200 printable ASCII characters")}
"""Answers of every OpenAI route before it runs (the middlewares), in OpenAI's shape."""
CHAT_ERRORS = {
    **KEYS,
    400: _error(f"Invalid or unsupported request, naming the field in `param`: a missing or mistyped field, a "
                f"message over {MAX_TEXT_CHARS} characters, an unrecognized field, a field not served (tools, "
                "response_format other than text, logprobs, ...), a conversation other than system messages and "
                "one user message, a prompt plus max_completion_tokens over the model's context, not a generation "
                "model, or an X-Request-ID header that is not printable ASCII"),
    404: _error("The model is not served here (`code: model_not_found`)"),
    413: _error(f"Body over {MAX_BODY_BYTES} bytes (checked before it is read)"),
    422: _error("The body is not JSON that can be served (lone surrogates, NaN)"),
    500: _error("Generation failed (`type: server_error`)"),
    503: _error("No model is loaded yet (`code: model_not_ready`)"),
}
STREAM = {"text/event-stream": {
    "schema": {"type": "string", "description": "Server-sent events: `data: <ChatCompletionChunk>` per chunk, the "
               "last with finish_reason set (then one with usage, when stream_options.include_usage), then "
               "`data: [DONE]`."},
    "itemSchema": {"$ref": "#/components/schemas/ChatCompletionChunk"},
}}


@dataclass(frozen=True, slots=True)
class Plan:
    """A request checked against the served model: what to decode, and how to answer."""

    served: ServedModel
    chat: ChatModel
    item: Input
    prompt: list[int]
    sampling: Sampling
    n: int


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


def plan(body: ChatCompletionRequest, served: ServedModel | None, name: str) -> Plan:
    """Check ``body`` against what ``served`` can do; :class:`ChatError` for the first thing it cannot."""
    if served is None:
        raise ChatError(503, "no model is loaded yet", kind="server_error", code="model_not_ready")
    if body.model not in (name, served.version):
        raise ChatError(404, f"model {body.model!r} is not served here; this server serves {name!r}",
                        param="model", code="model_not_found")
    if served.task != "generation":
        raise ChatError(400, f"{name!r} is a {served.task} model; chat completions need a generation model",
                        param="model")
    refuse_unserved(body)
    system, text = conversation(body.messages)
    try:
        chat = ChatModel(served.adapter)
    except TypeError as exc:
        raise ChatError(500, str(exc), kind="server_error") from None
    prompt = chat.prompt(system, text)
    budget = body.max_completion_tokens or body.max_tokens or served.adapter.config.max_new_tokens
    if len(prompt) + budget > chat.context:
        raise ChatError(400, f"the prompt has {len(prompt)} tokens and {budget} more were asked; the model's "
                        f"context is {chat.context} tokens", param="messages", code="context_length_exceeded")
    stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
    sampling = Sampling(max_tokens=budget, stop=stop, temperature=body.temperature, top_p=body.top_p, seed=body.seed)
    return Plan(served, chat, Input(text=text, system_prompt=system), prompt, sampling, body.n or 1)


def chat_router(runtime: ServingRuntime, remember: Callable[[str, int], None] | None = None) -> APIRouter:
    """The OpenAI-compatible routes, bound to ``runtime``; ``remember`` is told each answered request id and text
    length (feedback is checked against it)."""
    router = APIRouter(prefix="/v1", tags=["openai"])
    name = runtime.config.model

    def card(served: ServedModel) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": int(served.loaded_at), "owned_by": "pioneer",
                "version": served.version, "task": served.task}

    @router.get("/models", response_model=ModelList, summary="The served model, as OpenAI's model list",
                responses={k: KEYS[k] for k in (400, 401, 403)})
    async def models() -> Response:
        served = runtime.slot.current
        data = [] if served is None else [card(served)]
        return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")

    @router.get("/models/{model}", response_model=ModelCard, summary="One model, as OpenAI's models.retrieve",
                responses={**{k: KEYS[k] for k in (400, 401, 403)},
                           404: _error("Not the served model, or no model is loaded yet")})
    async def retrieve_model(model: str, request: Request) -> Response:
        served = runtime.slot.current
        if served is None or model not in (name, served.version):
            served_now = "no model is loaded yet" if served is None else f"this server serves {name!r}"
            return ChatError(404, f"the model {model!r} does not exist here; {served_now}", param="model",
                             code="model_not_found").response(request.state.request_id, runtime.slot.version)
        return Response(orjson.dumps(card(served)), media_type="application/json")

    @router.post("/chat/completions", response_model=ChatCompletion, responses={**CHAT_ERRORS, 200: {"content": STREAM}},
                 summary="OpenAI-compatible chat completion (generation models; streaming with stream=true)")
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
        started = time.perf_counter()
        request_id: str = request.state.request_id
        served = runtime.slot.current
        try:
            checked = plan(body, served, name)
        except ChatError as exc:
            return exc.response(request_id, None if served is None else served.version)
        headers = {"x-request-id": request_id, "x-model-version": checked.served.version}
        answer = Answer(runtime, remember, checked, request_id, name, started, body.user)
        if body.stream:
            usage = body.stream_options is not None and bool(body.stream_options.include_usage)
            return StreamingResponse(answer.stream(usage), media_type="text/event-stream",
                                     headers={**headers, "cache-control": "no-cache"})
        try:
            finished = [e for e in await answer.run() if isinstance(e, Finished)]
        except Exception as exc:  # noqa: BLE001 - the client gets a server_error; the server keeps serving
            return ChatError(500, f"generation failed: {type(exc).__name__}", kind="server_error").response(
                request_id, checked.served.version)
        answer.log(finished)
        payload = {**answer.head("chat.completion"),
                   "choices": [{"index": f.index, "message": {"role": "assistant", "content": f.text, "refusal": None},
                                "finish_reason": f.finish_reason, "logprobs": None} for f in finished],
                   "usage": answer.usage(finished)}
        return Response(orjson.dumps(payload), media_type="application/json", headers=headers)

    return router


class Answer:
    """One accepted chat request: decodes in the inference pool, answers whole or as a stream, logs each choice."""

    def __init__(self, runtime: ServingRuntime, remember: Callable[[str, int], None] | None, checked: Plan,
                 request_id: str, name: str, started: float, user: str | None) -> None:
        self.runtime, self.remember, self.plan = runtime, remember, checked
        self.request_id, self.name, self.started, self.user = request_id, name, started, user
        self.created = int(time.time())

    def head(self, kind: str) -> dict[str, Any]:
        return {"id": f"chatcmpl-{self.request_id}", "object": kind, "created": self.created, "model": self.name,
                "system_fingerprint": self.plan.served.version}

    def usage(self, finished: list[Finished]) -> dict[str, int]:
        prompt, completion = len(self.plan.prompt), sum(f.completion_tokens for f in finished)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _decode(self, cancelled: threading.Event) -> Iterator[Delta | Finished]:
        p = self.plan
        return p.chat.choices(p.prompt, p.sampling, p.n, cancelled)

    async def run(self) -> list[Delta | Finished]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.runtime.inference_pool, lambda: list(self._decode(threading.Event())))

    async def events(self) -> AsyncIterator[Delta | Finished]:
        """The decoder's events as they come from the inference thread; leaving early stops the decoding."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled, end = threading.Event(), object()

        def work() -> None:
            try:
                for event in self._decode(cancelled):
                    loop.call_soon_threadsafe(queue.put_nowait, event)
            except Exception as exc:  # noqa: BLE001 - handed to the stream, which tells the client
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, end)

        loop.run_in_executor(self.runtime.inference_pool, work)
        try:
            while (event := await queue.get()) is not end:
                if isinstance(event, Exception):
                    raise event
                yield event
        finally:
            cancelled.set()

    async def stream(self, include_usage: bool) -> AsyncIterator[bytes]:
        """Server-sent events in OpenAI's chunk format: the role, the text as decoded, each choice's finish_reason,
        the usage (when asked), ``[DONE]``. A failure mid-stream is sent as an OpenAI error event."""
        extra = {"usage": None} if include_usage else {}

        def chunk(index: int, delta: dict[str, Any], reason: str | None = None) -> bytes:
            choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": reason}
            return _sse({**self.head("chat.completion.chunk"), "choices": [choice], **extra})

        finished: list[Finished] = []
        for index in range(self.plan.n):
            yield chunk(index, {"role": "assistant", "content": ""})
        try:
            async with aclosing(self.events()) as events:  # a client that leaves stops the decoding at once
                async for event in events:
                    if isinstance(event, Delta):
                        yield chunk(event.index, {"content": event.text})
                    else:
                        finished.append(event)
                        yield chunk(event.index, {}, event.finish_reason)
        except Exception as exc:  # noqa: BLE001 - the status line is sent; the error travels as an event
            yield _sse(ChatError(500, f"generation failed: {type(exc).__name__}", kind="server_error").body())
            return
        self.log(finished)
        if include_usage:
            yield _sse({**self.head("chat.completion.chunk"), "choices": [], "usage": self.usage(finished)})
        yield b"data: [DONE]\n\n"

    def log(self, finished: list[Finished]) -> None:
        """One inference log per choice (ids ``<request id>-<index>`` when there are several)."""
        latency_ms = (time.perf_counter() - self.started) * 1000
        p = self.plan
        answered = []
        for f in finished:
            request_id = self.request_id if p.n == 1 else f"{self.request_id}-{f.index}"
            if self.remember is not None:
                self.remember(request_id, len(p.item.text))
            metadata = {"endpoint": "chat.completions", "finish_reason": f.finish_reason,
                        "completion_tokens": f.completion_tokens, **({"user": self.user} if self.user else {})}
            answered.append(Answered(request_id, p.item, Output(text=f.text), metadata))
        self.runtime.metrics.inferences.labels(p.served.version).inc(len(finished))
        self.runtime.log_answers(p.served, answered, latency_ms)


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"
