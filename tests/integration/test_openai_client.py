"""The OpenAI API as the official ``openai`` client calls it, against a real ``pioneer serve`` process serving a
tiny generation model (SmolLM2-135M with a LoRA adapter after one step; answers of a few tokens keep it fast).

One test per row of what a client may send: each is honoured (token budget, stop, sampling, several choices,
usage, finish_reason, streaming, models.retrieve) or refused with a 400 in OpenAI's shape naming the field.
Last, every live answer (errors and streams included) is checked against the server's own OpenAPI description.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import jsonschema
import openai
import orjson
import pytest

from pioneer.registry import FileRegistry
from streams.brokers import free_port
from tests.integration.helpers import share_machine_cache
from tests.unit.serving.tiny_models import GEN_SYSTEM, generator, register_generator

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

KEY = "openai-client-key-0123456789"
MODEL = "smol"
QUESTION = [{"role": "system", "content": GEN_SYSTEM}, {"role": "user", "content": "What is 2 plus 3?"}]
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    url: str
    version: str
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``pioneer serve`` as its own process, without Kafka, with one API key of scope predict."""
    home = tmp_path_factory.mktemp("openai")
    share_machine_cache(home)  # the server loads the converted SmolLM2 instead of converting the GGUF again (~50 s)
    registry = FileRegistry(home / "registry")
    version = register_generator(registry, MODEL)
    port = free_port()
    env = {**os.environ, "PIONEER_API_KEYS_PREDICT": KEY, "PYTHONPATH": str(ROOT), "PIONEER_HOME": str(home)}
    process = subprocess.Popen(
        [sys.executable, "-c", "from pioneer.cli import main; main()", "--log-level", "WARNING", "serve",
         "--model", MODEL, "--registry", str(home / "registry"), "--port", str(port), "--no-follow",
         "--no-log-inferences"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(home / "serve.log", "wb"),  # noqa: SIM115
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert process.poll() is None, (home / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the server did not become ready"
            try:
                if httpx2.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            time.sleep(0.5)
        yield Server(url, version, process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def client(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0, timeout=120)


def ask(client: openai.OpenAI, **fields: Any) -> Any:
    return client.chat.completions.create(**{"model": MODEL, "messages": QUESTION, **fields})


def refused(client: openai.OpenAI, param: str, **fields: Any) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, **fields)
    error = caught.value
    assert error.status_code == 400 and error.type == "invalid_request_error" and error.param == param, error.body
    assert isinstance(error.body, dict) and error.body["message"], error.body
    return error


# ---------------------------------------------------------------------------------------------------- honoured


def test_the_token_budget_is_honoured_and_said(client: openai.OpenAI) -> None:
    one, two = ask(client, max_tokens=1), ask(client, max_tokens=2)
    newer = ask(client, max_completion_tokens=2)
    longer = ask(client, max_tokens=8)
    for answer, budget in ((one, 1), (two, 2), (newer, 2)):
        choice = answer.choices[0]
        assert answer.usage.completion_tokens == budget and choice.finish_reason == "length", answer
    assert newer.choices[0].message.content == two.choices[0].message.content  # the two names mean the same
    assert len(one.choices[0].message.content) < len(two.choices[0].message.content)
    text = longer.choices[0].message.content
    assert text.startswith(two.choices[0].message.content) and len(text) > len(two.choices[0].message.content)
    assert longer.usage.completion_tokens <= 8
    assert (longer.choices[0].finish_reason == "length") == (longer.usage.completion_tokens == 8)


def test_usage_counts_the_real_tokens(client: openai.OpenAI) -> None:
    tokenizer = generator()._tokenizer
    rendered = tokenizer.apply_chat_template(QUESTION, tokenize=False, add_generation_prompt=True)
    answer = ask(client, max_tokens=3)
    usage = answer.usage
    assert usage.prompt_tokens == len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
    assert usage.completion_tokens == 3 and usage.total_tokens == usage.prompt_tokens + 3
    assert len(tokenizer(answer.choices[0].message.content, add_special_tokens=False)["input_ids"]) <= 3


def test_the_default_answer_is_the_models_greedy_answer_ended_as_it_happened(client: openai.OpenAI) -> None:
    adapter = generator()
    expected = adapter.generate([QUESTION[1]["content"]], [GEN_SYSTEM])[0]
    answer = ask(client)  # no budget: the model's configured max_new_tokens
    choice = answer.choices[0]
    assert choice.message.content.strip() == expected
    budget = adapter.config.max_new_tokens
    assert answer.usage.completion_tokens <= budget
    assert choice.finish_reason == ("length" if answer.usage.completion_tokens == budget else "stop")


def test_a_stop_sequence_ends_the_answer_before_it(client: openai.OpenAI) -> None:
    full = ask(client, max_tokens=8).choices[0].message.content
    assert " " in full.strip(), full  # else the stop below proves nothing
    stopped = ask(client, max_tokens=8, stop=[" "])
    choice = stopped.choices[0]
    assert choice.finish_reason == "stop" and " " not in choice.message.content
    assert choice.message.content == full[: full.index(" ")]
    assert stopped.usage.completion_tokens < 8
    word = full.strip().split(" ")[1]
    assert ask(client, max_tokens=8, stop=word).choices[0].message.content == full[: full.index(word)]


def test_sampling_when_asked_repeatable_with_a_seed(client: openai.OpenAI) -> None:
    greedy = {ask(client, max_tokens=4).choices[0].message.content for _ in range(2)}
    assert len(greedy) == 1
    hot = {"max_tokens": 4, "temperature": 2.0, "top_p": 1.0}
    same = [ask(client, seed=7, **hot).choices[0].message.content for _ in range(2)]
    assert same[0] == same[1]
    seeds = {ask(client, seed=seed, **hot).choices[0].message.content for seed in range(1, 6)}
    assert len(seeds | greedy) > 1  # five hot draws of four tokens are not all the greedy answer


def test_several_choices(client: openai.OpenAI) -> None:
    greedy = ask(client, max_tokens=2, n=2)
    assert [c.index for c in greedy.choices] == [0, 1]
    assert greedy.choices[0].message.content == greedy.choices[1].message.content
    assert greedy.usage.completion_tokens == 4
    sampled = ask(client, max_tokens=3, n=3, temperature=2.0, seed=3)
    assert len(sampled.choices) == 3 and sampled.usage.completion_tokens == 9
    refused(client, "n", n=50)


def test_streaming_yields_chunks_then_a_finish_reason(client: openai.OpenAI) -> None:
    whole = ask(client, max_tokens=5)
    chunks = list(ask(client, max_tokens=5, stream=True, stream_options={"include_usage": True}))
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    contents = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(contents) >= 2  # the text came in pieces, not at once
    reasons = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert reasons == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    stopped = list(ask(client, max_tokens=8, stream=True, stop=[" "]))
    streamed = "".join(c.choices[0].delta.content or "" for c in stopped)
    assert " " not in streamed and stopped[-1].choices[0].finish_reason == "stop"


def test_models_list_and_retrieve(client: openai.OpenAI, server: Server) -> None:
    assert [m.id for m in client.models.list()] == [MODEL]
    model = client.models.retrieve(MODEL)
    assert model.id == MODEL and model.object == "model" and model.version == server.version  # type: ignore[attr-defined]
    assert client.models.retrieve(server.version).id == MODEL
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-4o")
    assert caught.value.code == "model_not_found" and caught.value.param == "model"


# ---------------------------------------------------------------------------------------------------- refused


def test_what_is_not_served_is_refused_naming_the_field(client: openai.OpenAI) -> None:
    refused(client, "response_format", response_format={"type": "json_object"})
    tool = {"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {}}}}
    refused(client, "tools", tools=[tool])
    refused(client, "logprobs", logprobs=True)
    refused(client, "frequency_penalty", frequency_penalty=0.5)
    refused(client, "colour", extra_body={"colour": "blue"})
    assert ask(client, max_tokens=1, response_format={"type": "text"}, frequency_penalty=0).choices
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-4o", messages=QUESTION)  # type: ignore[arg-type]
    assert unknown.value.code == "model_not_found"


def test_invalid_requests_answer_in_openais_shape(client: openai.OpenAI) -> None:
    error = refused(client, "messages", messages=[])
    assert "messages" in str(error)  # the SDK's message says what was wrong, not only "Error code: 400"
    refused(client, "max_tokens", max_tokens=0)
    refused(client, "messages[0].role", messages=[{"content": "hi"}])
    refused(client, "messages", messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                                          {"role": "user", "content": "c"}])
    refused(client, "stop", stop=["a", "b", "c", "d", "e"])


def test_middleware_refusals_speak_openais_shape_too(server: Server) -> None:
    keyless = openai.OpenAI(base_url=f"{server.url}/v1", api_key="not-a-key-of-this-server", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        keyless.models.list()
    assert caught.value.code == "invalid_api_key" and "API key" in str(caught.value)
    big = httpx2.post(f"{server.url}/v1/chat/completions", content=b"x" * (2 << 20),
                      headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"})
    assert big.status_code == 413 and big.json()["error"]["code"] == "request_too_large"


# ---------------------------------------------------------------------------------------------------- OpenAPI


@dataclass
class Recorded:
    """Every answer the client received, whole (a stream is read to its end before the client sees it)."""

    exchanges: list[tuple[str, str, httpx2.Response]] = field(default_factory=list)


class RecordingTransport(httpx2.HTTPTransport):
    def __init__(self, recorded: Recorded) -> None:
        super().__init__()
        self.recorded = recorded

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = super().handle_request(request)
        body = response.read()
        whole = httpx2.Response(response.status_code, headers=response.headers, content=body, request=request)
        self.recorded.exchanges.append((request.method, request.url.path, whole))
        return whole


def _operation(description: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    for template, operations in description["paths"].items():
        parts, actual = template.split("/"), path.split("/")
        if len(parts) == len(actual) and all(p == a or p.startswith("{") for p, a in zip(parts, actual, strict=True)):
            return operations[method.lower()]
    raise AssertionError(f"{method} {path} is not in the description")


def _validate(description: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> None:
    validator = jsonschema.Draft202012Validator({**schema, "components": description["components"]})
    problems = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value)]
    assert not problems, f"{where}: {problems[:3]}"


def test_every_live_answer_matches_the_openapi_description(server: Server) -> None:
    description = httpx2.get(f"{server.url}/openapi.json").json()
    recorded = Recorded()
    http = httpx2.Client(transport=RecordingTransport(recorded), timeout=120)
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0, http_client=http)
    keyless = openai.OpenAI(base_url=f"{server.url}/v1", api_key="x" * 20, max_retries=0, http_client=http)
    calls = [
        lambda: ask(client, max_tokens=2, n=2), lambda: ask(client, max_tokens=3, stop=" ", temperature=1.0, seed=1),
        lambda: list(ask(client, max_tokens=2, stream=True, stream_options={"include_usage": True})),
        lambda: client.models.list(), lambda: client.models.retrieve(MODEL), lambda: client.models.retrieve("nope"),
        lambda: ask(client, messages=[]), lambda: ask(client, tools=[{"type": "function", "function": {"name": "f"}}]),
        lambda: ask(client, response_format={"type": "json_object"}), lambda: ask(client, model="gpt-4o"),
        lambda: keyless.models.list(), lambda: ask(keyless),
    ]
    for call in calls:
        try:
            call()
        except openai.APIStatusError:
            pass
    statuses = sorted({response.status_code for _, _, response in recorded.exchanges})
    assert statuses == [200, 400, 401, 404], statuses
    for method, path, response in recorded.exchanges:
        where = f"{method} {path} -> {response.status_code}"
        documented = _operation(description, method, path)["responses"]
        assert str(response.status_code) in documented, where
        media = response.headers["content-type"].split(";")[0]
        content = documented[str(response.status_code)]["content"]
        assert media in content, f"{where}: {media} not in {list(content)}"
        if media == "application/json":
            _validate(description, content[media]["schema"], response.json(), where)
            continue
        events = [line.removeprefix("data: ") for line in response.text.split("\n\n") if line]
        assert events[-1] == "[DONE]", where
        for event in events[:-1]:
            _validate(description, content[media]["itemSchema"], orjson.loads(event), where)
