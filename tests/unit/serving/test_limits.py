"""Hostile but bounded clients: bodies too large (refused before they are read whole), texts too long, metadata
too deep or too large, lone surrogates and unusable request ids; each gets a clear 4xx naming the limit, and
nothing is logged for a request that is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import orjson
import pytest

from streams.serving import ServeConfig, ServingRuntime, create_app
from streams.serving.limits import (
    MAX_BODY_BYTES,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    MAX_TEXT_CHARS,
)
from tests.unit.serving.conftest import PROBE, Toy


@dataclass
class Served:
    client: httpx.AsyncClient
    runtime: ServingRuntime
    app: object
    logged: list


@pytest.fixture
async def served(toy: Toy) -> AsyncIterator[Served]:
    runtime = ServingRuntime(ServeConfig(model=toy.model), registry=toy.registry, kafka=None)
    logged: list = []
    runtime.log_answers = lambda served, answered, latency: logged.extend(answered)  # type: ignore[method-assign]
    app = create_app(runtime, manage_runtime=False)
    await runtime.start()
    assert await runtime.swapper.wait_serving(toy.v1, 10)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://serve") as client:
        yield Served(client, runtime, app, logged)
    await runtime.stop()


async def _raw(app, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, bytes, int]:
    """Call the ASGI app with a body sent in ``chunks``; (status, body, chunks the app read)."""
    read = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal read
        if read >= len(chunks):
            await asyncio.sleep(3600)  # the client says nothing more
        read += 1
        return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/predict", "raw_path": b"/v1/predict", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"serve"), (b"content-type", b"application/json"), *headers],
             "client": ("127.0.0.1", 1), "server": ("serve", 80), "state": {}}
    await asyncio.wait_for(app(scope, receive, send), 10)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, read


async def test_a_declared_length_beyond_the_limit_is_refused_before_reading(served: Served) -> None:
    status, body, read = await _raw(served.app, [(b"content-length", b"52428800")], [b"{" * 1024] * 100)
    assert status == 413 and read == 0
    assert str(MAX_BODY_BYTES) in orjson.loads(body)["error"]


async def test_a_streamed_body_is_cut_off_once_past_the_limit(served: Served) -> None:
    chunk = b" " * (64 << 10)
    status, body, read = await _raw(served.app, [], [chunk] * 800)  # 50 MiB, no Content-Length
    assert status == 413 and read == MAX_BODY_BYTES // len(chunk) + 1
    assert str(MAX_BODY_BYTES) in orjson.loads(body)["error"]
    assert served.logged == []


async def test_long_texts_and_deep_or_large_metadata_are_refused_with_the_limit(served: Served) -> None:
    long = await served.client.post("/v1/predict", json={"text": "a" * (MAX_TEXT_CHARS + 1)})
    assert long.status_code == 422 and str(MAX_TEXT_CHARS) in long.text
    assert len(long.content) < 2000  # the refused text is not echoed back
    ok = await served.client.post("/v1/predict", json={"text": "a " * (MAX_TEXT_CHARS // 2)})
    assert ok.status_code == 200
    batch = await served.client.post("/v1/predict/batch", json={"inputs": [{"text": "a" * (MAX_TEXT_CHARS + 1)}]})
    assert batch.status_code == 422

    deep: dict = {"leaf": 1}
    for _ in range(MAX_METADATA_DEPTH):
        deep = {"d": deep}
    too_deep = await served.client.post("/v1/predict", json={"text": PROBE, "metadata": deep})
    assert too_deep.status_code == 422 and str(MAX_METADATA_DEPTH) in too_deep.text
    assert (await served.client.post("/v1/predict", json={"text": PROBE, "metadata": deep["d"]})).status_code == 200
    large = {"blob": "x" * MAX_METADATA_BYTES}
    too_large = await served.client.post("/v1/predict", json={"text": PROBE, "context": large})
    assert too_large.status_code == 422 and str(MAX_METADATA_BYTES) in too_large.text
    feedback = await served.client.post("/v1/feedback", json={"request_id": "r", "label": "x", "judge": large})
    assert feedback.status_code == 422
    assert len(served.logged) == 2  # only the two requests that were answered


async def test_a_lone_surrogate_is_a_422_not_a_500(served: Served) -> None:
    for body in (b'{"text": "\\ud800"}', b'{"text": "ok", "metadata": {"k": "\\udfff"}}'):
        response = await served.client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422, response.text
        assert "surrogate" in response.json()["error"]
    emoji = await served.client.post("/v1/predict", content=b'{"text": "\\ud83d\\ude00 move money"}',
                                     headers={"content-type": "application/json"})
    assert emoji.status_code == 200
    deep = await served.client.post("/v1/predict", content=b"[" * 100_000 + b"]" * 100_000,
                                    headers={"content-type": "application/json"})
    assert deep.status_code == 422
    assert len(served.logged) == 1


@pytest.mark.parametrize("request_id", ["a\r\nb", "caf\u00e9", "\u20ac", "tab\there", " ", "x" * 201])
async def test_an_unusable_request_id_is_refused_before_anything_is_logged(served: Served, request_id: str) -> None:
    in_body = await served.client.post("/v1/predict", json={"text": PROBE, "request_id": request_id})
    assert in_body.status_code == 422
    batch = await served.client.post("/v1/predict/batch", json={"inputs": [{"text": PROBE, "request_id": request_id}]})
    assert batch.status_code == 422
    feedback = await served.client.post("/v1/feedback", json={"request_id": request_id, "label": "transfer"})
    assert feedback.status_code == 422
    status, body, _ = await _raw(served.app, [(b"x-request-id", request_id.encode("utf-8"))],
                                 [orjson.dumps({"text": PROBE})])
    assert status == 400 and b"X-Request-ID" in body
    assert served.logged == []


async def test_the_openapi_description_documents_every_refusal(served: Served) -> None:
    description = (await served.client.get("/openapi.json")).json()
    paths = description["paths"]
    for path in ("/v1/predict", "/v1/predict/batch", "/v1/feedback", "/v1/chat/completions"):
        answers = paths[path]["post"]["responses"]
        assert {"400", "401", "403", "413", "422"} <= set(answers), path
        assert str(MAX_BODY_BYTES) in answers["413"]["description"]
        invalid = "400" if path.startswith("/v1/chat") else "422"  # OpenAI answers a refused field with a 400
        assert str(MAX_TEXT_CHARS) in answers[invalid]["description"]
    for path, operations in paths.items():  # one error shape per family, and every error documents its body
        for method, operation in operations.items():
            family = "OpenAIErrorBody" if path.startswith(("/v1/chat", "/v1/models")) else "ErrorBody"
            for status, answer in operation["responses"].items():
                if int(status) >= 400 and (path, status) != ("/readyz", "503"):
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref.rsplit("/", 1)[1] in (family, "InvalidBody" if status == "422" else family), (
                        method, path, status)
    feedback = paths["/v1/feedback"]["post"]["responses"]
    assert "Retry-After" in feedback["429"]["headers"] and {"200", "202"} <= set(feedback)
    assert {"401", "403"} <= set(paths["/metrics"]["get"]["responses"])
    assert "401" not in paths["/healthz"]["get"]["responses"]
