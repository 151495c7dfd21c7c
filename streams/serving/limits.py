"""What one request may carry, and the ASGI middleware that enforces the body's bound before the app reads it.

A body is refused (413) from its ``Content-Length`` alone when that says too much, and otherwise cut off as soon
as the bytes streamed past the bound: a client cannot make the server buffer more than ``MAX_BODY_BYTES``. A JSON
body is then parsed once by orjson, which refuses what Python's parser lets through and later steps cannot
carry (lone surrogates, NaN, nesting deeper than 1024), so those are a 422 here instead of a 500 later.
Texts, metadata and request ids have their own bounds, checked by the request models (:mod:`.payloads`).
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pioneer.serving.records import REQUEST_ID_PATTERN

MAX_BODY_BYTES = 1 << 20
"""Largest request body (1 MiB)."""
MAX_TEXT_CHARS = 32_768
"""Longest text, system prompt or reason, in characters."""
MAX_METADATA_DEPTH = 16
"""Deepest nesting of a metadata, context or judge object (the object itself is depth 1)."""
MAX_METADATA_BYTES = 16 << 10
"""Largest metadata, context or judge object, as compact JSON (16 KiB)."""
MAX_LABEL_CHARS = 200
"""Longest label or entity type a feedback may name."""
REQUEST_ID_RE = re.compile(REQUEST_ID_PATTERN)


def check_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """``value`` if it is within the depth and size bounds; ``ValueError`` naming the bound otherwise."""
    if value is None:
        return None
    depth = _depth(value)
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"nested {depth} levels deep; at most {MAX_METADATA_DEPTH} levels are accepted")
    try:
        size = len(orjson.dumps(value))
    except orjson.JSONEncodeError as exc:
        raise ValueError(f"cannot be carried as JSON ({exc})") from None
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"{size} bytes as JSON; at most {MAX_METADATA_BYTES} bytes are accepted")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of dicts and lists, without recursion (the bound is what is being checked)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_METADATA_DEPTH:
            return deepest  # no need to walk the rest
        stack.extend((child, level + 1) for child in children)
    return deepest


class BodyLimit:
    """Pure ASGI middleware: reads the body up to ``max_bytes`` (413 past it), checks that a JSON body parses
    strictly (422 otherwise), then hands the buffered body to the app."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await send_error(send, 413, self._too_large(declared.decode("latin-1") + " bytes declared"))
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nothing to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await send_error(send, 413, self._too_large(f"more than {self.max_bytes} bytes sent"))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and _is_json(headers.get(b"content-type")):
            try:
                orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                await send_error(send, 422, f"the body is not JSON that can be served: {exc}")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: wait for the disconnect, as the server would say it
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _too_large(self, what: str) -> str:
        return f"request body too large ({what}); at most {self.max_bytes} bytes are accepted"


def _is_json(content_type: bytes | None) -> bool:
    """Whether FastAPI will parse the body as JSON (it does when no content type is given, too)."""
    if content_type is None:
        return True
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


async def send_error(send: Send, status: int, error: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer ``{"error": error}`` from a middleware, before the app runs."""
    body = orjson.dumps({"error": error})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
