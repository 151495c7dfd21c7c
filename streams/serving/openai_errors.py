"""The OpenAI API family's one error shape, ``{"error": {"message", "type", "param", "code"}}``, on every answer
its routes give: refusals of the routes themselves, request validation, and the answers the middlewares give
before a route runs (API keys, body bound, request id), which speak the Pioneer shape ``{"error": "..."}``.

The middlewares stay one implementation for both families: :class:`OpenAIErrorShape` rewrites their answers on
the OpenAI paths, so the ``openai`` SDK reads ``message``, ``type``, ``param`` and ``code`` from every error.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

OPENAI_PREFIXES = ("/v1/chat/", "/v1/models")
"""Paths of the OpenAI-compatible family (everything else speaks the Pioneer shape)."""

STATUS_KINDS = {
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "insufficient_permissions"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "request_too_large"),
    422: ("invalid_request_error", "invalid_json"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}
"""(type, code) of a middleware's answer, by status; other 4xx are ``invalid_request_error``, 5xx ``server_error``."""


class OpenAIErrorDetail(BaseModel):
    message: str = Field(description="What was refused and why.")
    type: str = Field(description="invalid_request_error, server_error or rate_limit_error.")
    param: str | None = Field(default=None, description="The request field at fault, when one is.")
    code: str | None = Field(default=None, description="A machine-readable reason (model_not_found, ...).")


class OpenAIErrorBody(BaseModel):
    """Every error of the OpenAI-compatible routes, as OpenAI's API answers it."""

    error: OpenAIErrorDetail


class ChatError(Exception):
    """A request the OpenAI routes refuse, answered in OpenAI's error shape."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}

    def response(self, request_id: str, version: str | None) -> Response:
        return Response(orjson.dumps(self.body()), status_code=self.status, media_type="application/json",
                        headers={"x-request-id": request_id, "x-model-version": version or "none"})


def is_openai_path(path: str) -> bool:
    return path.startswith(OPENAI_PREFIXES)


def invalid_request(exc: RequestValidationError) -> ChatError:
    """A validation failure as OpenAI reports it: 400, the first failing field as ``param``, every one in the message."""
    errors = exc.errors()
    fields = [_param(e["loc"]) for e in errors]
    summary = "; ".join(f"{field or 'body'}: {e['msg']}" for field, e in zip(fields, errors, strict=True))
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return ChatError(400, f"invalid request: {summary[:2000]}{more}", param=fields[0] if fields else None,
                     code="invalid_value")


UNION_TAGS = ("str", "int", "float", "bool", "list", "dict", "none")


def _param(loc: tuple[Any, ...] | list[Any]) -> str | None:
    """``("body", "messages", 0, "role")`` -> ``messages[0].role``, the way OpenAI names a parameter. The names
    pydantic gives the members of a union (``str``, ``list[...]``, a class name) are not parameters: dropped."""
    name = ""
    for part in list(loc)[1:] if loc and loc[0] in ("body", "path", "query") else list(loc):
        if isinstance(part, int):
            name += f"[{part}]"
        elif not (part in UNION_TAGS or "[" in part or "-" in part or part[:1].isupper()):
            name += f".{part}" if name else part
    return name or None


def reshape(status: int, body: bytes) -> bytes | None:
    """A Pioneer-shaped (or Starlette-shaped) error body in OpenAI's shape; None when it already is one."""
    try:
        payload = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        payload = {"error": body.decode("utf-8", "replace")[:2000]}
    if not isinstance(payload, dict):
        payload = {}
    message = payload.get("error", payload.get("detail"))
    if isinstance(message, dict):
        return None
    kind, code = STATUS_KINDS.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    text = message if isinstance(message, str) else f"request refused with status {status}"
    return orjson.dumps({"error": {"message": text, "type": kind, "param": None, "code": code}})


class OpenAIErrorShape:
    """Pure ASGI middleware, outermost: on the OpenAI paths, an error answered in another shape is rewritten
    to OpenAI's. Success answers (streams included) pass through untouched; only error bodies are buffered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_openai_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if message["status"] < 400:
                    await send(message)
                    return
                start = message  # an error: hold it until its body is whole
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            reshaped = reshape(start["status"], body)
            if reshaped is not None:
                headers = MutableHeaders(scope=start)
                headers["content-type"] = "application/json"
                headers["content-length"] = str(len(reshaped))
                body = reshaped
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)
