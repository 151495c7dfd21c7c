"""The HTTP API's shape, over FastAPI's ASGI transport with a real tiny adapter and no broker: request ids and
model versions on every response, predict and batch, readiness, OpenAPI, metrics, OpenAI-style errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from streams.serving import ServeConfig, ServingRuntime, create_app
from tests.unit.serving.conftest import PROBE, Toy


@dataclass
class Served:
    client: httpx.AsyncClient
    runtime: ServingRuntime


@pytest.fixture
async def served(toy: Toy) -> AsyncIterator[Served]:
    runtime = ServingRuntime(ServeConfig(model=toy.model, max_batch_request=8), registry=toy.registry, kafka=None)
    app = create_app(runtime, manage_runtime=False)
    await runtime.start()
    assert await runtime.swapper.wait_serving(toy.v1, 10)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://serve") as client:
        yield Served(client, runtime)
    await runtime.stop()


async def test_predict_answers_with_request_id_and_version(served: Served, toy: Toy) -> None:
    response = await served.client.post("/v1/predict", json={"text": PROBE}, headers={"X-Request-ID": "client-1"})
    assert response.status_code == 200
    body = response.json()
    assert body["request_id"] == "client-1" == response.headers["x-request-id"]
    assert body["model"] == {"name": toy.model, "version": toy.v1, "task": "classification"}
    assert response.headers["x-model-version"] == toy.v1
    assert body["prediction"]["label"] == "transfer"

    in_body = await served.client.post("/v1/predict", json={"text": PROBE, "request_id": "body-id"},
                                       headers={"X-Request-ID": "header-id"})
    assert in_body.json()["request_id"] == "body-id" == in_body.headers["x-request-id"]
    generated = (await served.client.post("/v1/predict", json={"text": PROBE})).json()["request_id"]
    assert len(generated) == 32


async def test_batch_predict_gives_each_input_an_id_and_one_version(served: Served, toy: Toy) -> None:
    response = await served.client.post(
        "/v1/predict/batch",
        json={"request_id": "b", "inputs": [{"text": PROBE}, {"text": "what is my balance", "request_id": "mine"}]},
    )
    body = response.json()
    assert response.status_code == 200 and body["model"]["version"] == toy.v1
    assert [r["request_id"] for r in body["results"]] == ["b-0", "mine"]
    assert [r["prediction"]["label"] for r in body["results"]] == ["transfer", "balance"]
    too_many = await served.client.post("/v1/predict/batch", json={"inputs": [{"text": "x"}] * 9})
    assert too_many.status_code == 413


async def test_errors_carry_request_id_and_version_too(served: Served, toy: Toy) -> None:
    invalid = await served.client.post("/v1/predict", json={"txt": "typo"}, headers={"X-Request-ID": "r-9"})
    assert invalid.status_code == 422
    assert invalid.headers["x-request-id"] == "r-9" and invalid.headers["x-model-version"] == toy.v1
    no_kafka = await served.client.post("/v1/feedback", json={"request_id": "r-1", "label": "transfer"})
    assert no_kafka.status_code == 503 and no_kafka.headers["x-request-id"] == "r-1"
    empty = await served.client.post("/v1/feedback", json={"request_id": "r-1"})
    assert empty.status_code == 422  # neither a label nor a verdict


async def test_health_readiness_openapi_and_metrics(served: Served, toy: Toy) -> None:
    assert (await served.client.get("/healthz")).json() == {"status": "alive"}
    ready = (await served.client.get("/readyz")).json()
    assert ready["ready"] and ready["version"] == toy.v1 and ready["broker"]["configured"] is False
    paths = (await served.client.get("/openapi.json")).json()["paths"]
    assert {"/v1/predict", "/v1/predict/batch", "/v1/feedback", "/v1/chat/completions", "/v1/models",
            "/healthz", "/readyz", "/metrics"} <= set(paths)
    await served.client.post("/v1/predict", json={"text": PROBE})
    metrics = (await served.client.get("/metrics")).text
    assert 'pioneer_serving_requests_total{endpoint="predict",status="200"}' in metrics
    assert f'pioneer_serving_model_info{{model="{toy.model}",task="classification",version="{toy.v1}"}} 1.0' in metrics
    assert 'pioneer_serving_swaps_total{kind="initial"} 1.0' in metrics


async def test_not_ready_before_a_model_loads(toy: Toy) -> None:
    runtime = ServingRuntime(ServeConfig(model=toy.model, alias="nobody-set-this"), registry=toy.registry, kafka=None)
    app = create_app(runtime, manage_runtime=False)
    await runtime.start()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://serve") as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 503
        response = await client.post("/v1/predict", json={"text": PROBE})
        assert response.status_code == 503 and response.headers["x-model-version"] == "none"
    await runtime.stop()


async def test_chat_completions_refuse_what_they_cannot_serve(served: Served, toy: Toy) -> None:
    chat = {"model": toy.model, "messages": [{"role": "user", "content": "hi"}]}
    not_generation = await served.client.post("/v1/chat/completions", json=chat)
    assert not_generation.status_code == 400
    assert not_generation.json()["error"]["type"] == "invalid_request_error"
    unknown = await served.client.post("/v1/chat/completions", json={**chat, "model": "gpt-4o"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    models = (await served.client.get("/v1/models")).json()
    assert models["object"] == "list" and models["data"][0]["id"] == toy.model
    assert models["data"][0]["version"] == toy.v1
