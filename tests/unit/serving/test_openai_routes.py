"""The OpenAI-compatible family without a generation model (the tiny classifier answers in microseconds): its
one error shape on every refusal (validation, API keys, body bound, request id, routes), which fields are
refused, the model routes, and the pure pieces of decoding (what may be streamed before a stop sequence).
Generation itself is tested with the official client in ``tests/integration/test_openai_client.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from streams.serving import ServeConfig, ServingRuntime, create_app
from streams.serving.auth import ApiKeys, parse_scopes
from streams.serving.decoding import Sampling, sendable
from streams.serving.openai_errors import ChatError, _param
from streams.serving.openai_schema import ChatCompletionRequest, refuse_unserved
from tests.unit.serving.conftest import Toy

KEY = "openai-routes-key-0123456789"
METRICS_KEY = "metrics-only-key-0123456789"


@dataclass
class Served:
    client: httpx.AsyncClient
    runtime: ServingRuntime


@pytest.fixture
async def served(toy: Toy) -> AsyncIterator[Served]:
    runtime = ServingRuntime(ServeConfig(model=toy.model), registry=toy.registry, kafka=None)
    keys = ApiKeys({KEY: parse_scopes("predict"), METRICS_KEY: parse_scopes("metrics")})
    app = create_app(runtime, manage_runtime=False, api_keys=keys)
    await runtime.start()
    assert await runtime.swapper.wait_serving(toy.v1, 10)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://serve",
                                 headers={"authorization": f"Bearer {KEY}"}) as client:
        yield Served(client, runtime)
    await runtime.stop()


def openai_error(response: httpx.Response, status: int, param: str | None = None) -> dict[str, object]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"], error
    assert error["param"] == param, error
    return error


async def test_validation_errors_are_openai_400s_naming_the_field(served: Served, toy: Toy) -> None:
    chat = {"model": toy.model, "messages": [{"role": "user", "content": "hi"}]}
    empty = await served.client.post("/v1/chat/completions", json={**chat, "messages": []})
    assert "messages" in str(openai_error(empty, 400, "messages")["message"])
    no_role = await served.client.post("/v1/chat/completions", json={**chat, "messages": [{"content": "hi"}]})
    openai_error(no_role, 400, "messages[0].role")
    five_stops = await served.client.post("/v1/chat/completions", json={**chat, "stop": ["a", "b", "c", "d", "e"]})
    openai_error(five_stops, 400, "stop")
    not_an_object = await served.client.post("/v1/chat/completions", json=[1, 2])
    openai_error(not_an_object, 400)
    predict = await served.client.post("/v1/predict", json={"txt": "typo"})  # the other family keeps its shape
    assert predict.status_code == 422 and isinstance(predict.json()["error"], str)


async def test_middleware_refusals_take_the_openai_shape_on_openai_paths_only(served: Served, toy: Toy) -> None:
    keyless = {"authorization": ""}
    for path in ("/v1/models", f"/v1/models/{toy.model}"):
        error = openai_error(await served.client.get(path, headers=keyless), 401)
        assert error["code"] == "invalid_api_key"
    wrong_scope = await served.client.get("/v1/models", headers={"authorization": f"Bearer {METRICS_KEY}"})
    assert openai_error(wrong_scope, 403)["code"] == "insufficient_permissions"
    big = await served.client.post("/v1/chat/completions", content=b"x" * (2 << 20),
                                   headers={"content-type": "application/json"})
    assert openai_error(big, 413)["code"] == "request_too_large"
    nan = await served.client.post("/v1/chat/completions", content=b'{"model": NaN}',
                                   headers={"content-type": "application/json"})
    openai_error(nan, 422)
    bad_id = await served.client.get("/v1/models", headers={"x-request-id": "a b"})
    openai_error(bad_id, 400)
    wrong_method = await served.client.get("/v1/chat/completions")
    openai_error(wrong_method, 405)
    pioneer = await served.client.post("/v1/predict", json={"text": "x"}, headers=keyless)
    assert pioneer.status_code == 401 and isinstance(pioneer.json()["error"], str)


async def test_models_retrieve(served: Served, toy: Toy) -> None:
    by_name = (await served.client.get(f"/v1/models/{toy.model}")).json()
    assert by_name["id"] == toy.model and by_name["object"] == "model" and by_name["version"] == toy.v1
    assert (await served.client.get(f"/v1/models/{toy.v1}")).json() == by_name
    missing = openai_error(await served.client.get("/v1/models/gpt-4o"), 404, "model")
    assert missing["code"] == "model_not_found"
    await served.client.get("/v1/models/gpt-4o")
    metrics = (await served.client.get("/metrics", headers={"authorization": f"Bearer {METRICS_KEY}"})).text
    assert 'pioneer_serving_requests_total{endpoint="model",status="404"} 2.0' in metrics


def _request(**fields: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                                                 **fields})


@pytest.mark.parametrize(("fields", "param"), [
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"response_format": {"type": "json_schema", "json_schema": {}}}, "response_format"),
    ({"logprobs": True}, "logprobs"),
    ({"presence_penalty": 0.5}, "presence_penalty"),
    ({"logit_bias": {"42": 5}}, "logit_bias"),
    ({"colour": "blue"}, "colour"),
    ({"stream_options": {"include_usage": True}}, "stream_options"),
    ({"max_tokens": 3, "max_completion_tokens": 4}, "max_tokens"),
])
def test_fields_not_served_are_refused_by_name(fields: dict[str, object], param: str) -> None:
    with pytest.raises(ChatError) as caught:
        refuse_unserved(_request(**fields))
    assert caught.value.status == 400 and caught.value.param == param


def test_no_op_values_of_unserved_fields_are_accepted() -> None:
    refuse_unserved(_request(tools=[], logprobs=False, presence_penalty=0, frequency_penalty=0.0, logit_bias={},
                             response_format={"type": "text"}, store=False, service_tier="auto",
                             max_tokens=3, max_completion_tokens=3, stream=True,
                             stream_options={"include_usage": True}))


def test_text_that_may_become_a_stop_sequence_is_held_back() -> None:
    assert sendable("The answer", ("answer is",)) == (4, False)  # "answer" may grow into the stop: held
    assert sendable("The answer is 5", ("answer is",)) == (4, True)
    assert sendable("Hi there", ("\n\n", " t")) == (2, True)
    assert sendable("caf\ufffd", ()) == (3, False)  # half a UTF-8 character is not sent
    assert sendable("no stops here", ()) == (13, False)
    assert sendable("ends with a", ("ab", "a")) == (10, True)


def test_greedy_unless_sampling_is_asked() -> None:
    assert Sampling(max_tokens=1).greedy
    assert Sampling(max_tokens=1, temperature=0, top_p=0.5).greedy
    assert not Sampling(max_tokens=1, temperature=0.7).greedy
    assert not Sampling(max_tokens=1, top_p=0.9).greedy
    assert Sampling(max_tokens=1, top_p=1.0, seed=3).greedy


def test_params_are_named_as_openai_names_them() -> None:
    assert _param(("body", "messages", 0, "role")) == "messages[0].role"
    assert _param(("body", "stop", "list[constrained-str]")) == "stop"
    assert _param(("body", "messages", 1, "content", "str")) == "messages[1].content"
    assert _param(("body",)) is None
