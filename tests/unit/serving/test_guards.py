"""Who may send what into the training signal: API keys by scope (401 before any body is read, 403 for a key
without the route's scope or the feedback's source), feedback checked against the served model, one per
(request id, source), and paced per source (429 with Retry-After). The shipper is real and spills to disk
(no broker listens), so what counts as published is what it was offered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from pioneer.cli.serve import serve
from pioneer.serving import ServedModel
from streams.brokers import free_port
from streams.kafka import KafkaSettings
from streams.serving import ServeConfig, ServingRuntime, create_app
from streams.serving.auth import ApiKeys, is_loopback, parse_scopes
from streams.serving.feedback import FeedbackRefused, check_against_model
from streams.serving.payloads import FeedbackRequest
from tests.unit.serving.conftest import PROBE, Toy

PREDICT = "predict-key-0123456789"
HUMAN = "human-key-0123456789ab"
JUDGE = "judge-key-0123456789ab"
METRICS = "metrics-key-0123456789"


@dataclass
class Served:
    client: httpx.AsyncClient
    runtime: ServingRuntime
    app: Any

    def published(self) -> int:
        assert self.runtime.shipper is not None
        return self.runtime.shipper.spill.pending_records + int(self.runtime.metrics.value(
            "pioneer_serving_events_sent_total", topic="pioneer.labels"))


@pytest.fixture
async def served(toy: Toy, tmp_path: Path) -> AsyncIterator[Served]:
    config = ServeConfig(model=toy.model, follow_releases=False, log_inferences=True, spill_dir=tmp_path / "spill",
                         delivery_timeout=0.3, retry_interval=0.1, feedback_rate=0.5, feedback_burst=3)
    runtime = ServingRuntime(config, registry=toy.registry,
                             kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}"))
    keys = ApiKeys({PREDICT: parse_scopes("predict"), HUMAN: parse_scopes("feedback:human"),
                    JUDGE: parse_scopes("feedback:judge,feedback:human"), METRICS: parse_scopes("metrics")})
    app = create_app(runtime, manage_runtime=False, api_keys=keys)
    await runtime.start()
    assert await runtime.swapper.wait_serving(toy.v1, 10)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://serve") as client:
        yield Served(client, runtime, app)
    await runtime.stop()


def _bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def _settled(served: Served, expected: int) -> int:
    deadline = time.monotonic() + 10
    while served.published() < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # anything more would show up by now
    return served.published()


async def test_keys_open_only_their_routes(served: Served) -> None:
    missing = await served.client.post("/v1/predict", json={"text": PROBE})
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    wrong = await served.client.post("/v1/predict", json={"text": PROBE}, headers=_bearer("not-a-key-0123456789"))
    assert wrong.status_code == 401
    huge = await served.client.post("/v1/predict", content=b"x" * (4 << 20))  # refused before it is read
    assert huge.status_code == 401
    assert (await served.client.post("/v1/predict", json={"text": PROBE}, headers=_bearer(PREDICT))).status_code == 200
    assert (await served.client.get("/v1/models", headers=_bearer(PREDICT))).status_code == 200
    assert (await served.client.get("/metrics", headers=_bearer(PREDICT))).status_code == 403
    assert (await served.client.get("/metrics", headers=_bearer(METRICS))).status_code == 200
    assert (await served.client.post("/v1/predict", json={"text": PROBE}, headers=_bearer(HUMAN))).status_code == 403
    assert (await served.client.get("/healthz")).status_code == 200
    assert (await served.client.get("/readyz")).status_code == 200
    assert (await served.client.get("/openapi.json")).status_code == 200


async def test_a_forged_source_is_refused_and_nothing_is_published(served: Served) -> None:
    forged = await served.client.post("/v1/feedback", json={"request_id": "r-1", "label": "transfer", "source": "judge"},
                                      headers=_bearer(HUMAN))
    assert forged.status_code == 403 and "judge" in forged.json()["error"]
    predict_key = await served.client.post("/v1/feedback", json={"request_id": "r-1", "label": "transfer"},
                                           headers=_bearer(PREDICT))
    assert predict_key.status_code == 403
    judged = await served.client.post("/v1/feedback", json={"request_id": "r-1", "label": "transfer",
                                                            "source": "judge"}, headers=_bearer(JUDGE))
    assert judged.status_code == 202
    assert await _settled(served, 1) == 1


async def test_feedback_must_fit_the_model(served: Served) -> None:
    cases = [({"label": "refund"}, "not one of the model's labels"),
             ({"spans": [{"start": 0, "end": 4, "label": "LOC"}]}, "entity extraction"),
             ({"text": "a right answer"}, "generation")]
    for fields, message in cases:
        response = await served.client.post("/v1/feedback", json={"request_id": "r-2", **fields}, headers=_bearer(HUMAN))
        assert response.status_code == 422 and message in response.json()["error"], response.text
    assert "'balance', 'transfer'" in (await served.client.post(
        "/v1/feedback", json={"request_id": "r-2", "label": "refund"}, headers=_bearer(HUMAN))).json()["error"]
    assert await _settled(served, 0) == 0


async def test_one_label_per_request_and_source_then_duplicate(served: Served) -> None:
    body = {"request_id": "r-3", "label": "balance"}
    first = await served.client.post("/v1/feedback", json=body, headers=_bearer(HUMAN))
    again = await served.client.post("/v1/feedback", json={**body, "label": "transfer"}, headers=_bearer(HUMAN))
    assert first.status_code == 202 and again.status_code == 200
    assert again.json() == {"request_id": "r-3", "event_id": None, "status": "duplicate"}
    judge = await served.client.post("/v1/feedback", json={**body, "source": "judge"}, headers=_bearer(JUDGE))
    assert judge.status_code == 202  # another source may label the same request
    assert await _settled(served, 2) == 2


async def test_each_source_is_paced_by_its_own_bucket(served: Served) -> None:
    answers = [await served.client.post("/v1/feedback", json={"request_id": f"p-{i}", "verdict": "pass"},
                                        headers=_bearer(HUMAN)) for i in range(5)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429, 429]  # burst 3, then 0.5 a second
    assert 1 <= int(answers[3].headers["retry-after"]) <= 2
    other = await served.client.post("/v1/feedback", json={"request_id": "p-0", "verdict": "fail", "source": "judge"},
                                     headers=_bearer(JUDGE))
    assert other.status_code == 202
    assert await _settled(served, 4) == 4


def test_spans_are_checked_against_the_text_and_the_entity_types() -> None:
    class Tagger:  # the attribute a fitted tagger exposes; nothing else is read
        entity_types_ = ("LOC", "PER")

    served = ServedModel(name="ner", version="sha256-aaaaaaaaaaaa", task="entity_extraction", adapter=Tagger())  # type: ignore[arg-type]

    def check(spans: list[dict], text_chars: int | None = 10) -> None:
        check_against_model(FeedbackRequest(request_id="r", spans=spans), served, text_chars)

    check([{"start": 0, "end": 5, "label": "LOC", "text": "Paris"}])
    check([{"start": 0, "end": 50, "label": "PER"}], text_chars=None)  # a request this process did not answer
    for spans, message in [([{"start": 0, "end": 11, "label": "LOC"}], "past the text's 10"),
                           ([{"start": 0, "end": 2, "label": "ORG"}], "entity type 'ORG'"),
                           ([{"start": 0, "end": 2, "label": "LOC", "text": "abc"}], "3 characters")]:
        with pytest.raises(FeedbackRefused, match=message) as refused:
            check(spans)
        assert refused.value.status == 422
    with pytest.raises(FeedbackRefused, match="classification"):
        check_against_model(FeedbackRequest(request_id="r", label="LOC"), served, None)


def test_keys_load_from_a_file_and_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# team keys\n{PREDICT} predict,metrics\n{HUMAN}   feedback   # the labelling tool\n")
    keys = ApiKeys.load(path, {"PIONEER_API_KEYS_FEEDBACK_JUDGE": f"{JUDGE}, ", "OTHER": "x"})
    assert keys.scopes(PREDICT) == {"predict", "metrics"}
    assert keys.scopes(HUMAN) == {"feedback:human", "feedback:judge", "feedback:rule"}
    assert keys.scopes(JUDGE) == {"feedback:judge"} and keys.scopes("unknown-key-0123456789") is None
    for text, message in [("short predict\n", "at least 16"), (f"{PREDICT} everything\n", "unknown scope"),
                          (f"{PREDICT}\n", "expected 'KEY SCOPE")]:
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            ApiKeys.load(path, {})


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.org"])
def test_binding_beyond_loopback_needs_keys_or_an_explicit_opt_out(tmp_path: Path, host: str) -> None:
    assert not is_loopback(host) and is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    result = CliRunner().invoke(serve, ["--model", "toy", "--host", host, "--port", "1", "--no-log-inferences",
                                        "--no-follow"], env={"PIONEER_HOME": str(tmp_path)})
    assert result.exit_code == 2 and "--api-keys" in result.output and "--insecure-no-auth" in result.output
    assert list(tmp_path.iterdir()) == []


async def test_the_replays_send_each_label_again_after_a_429_and_count_a_refused_one(served: Served) -> None:
    from streams.demo.live import LiveState, send_label

    served.client.headers.update(_bearer(HUMAN))
    state = LiveState()
    accepted = [await send_label(served.client, state, {"request_id": f"q-{i}", "verdict": "pass"}) for i in range(4)]
    assert accepted == [True] * 4  # the fourth was answered 429 first (burst 3), then sent after its Retry-After
    refused = await send_label(served.client, state, {"request_id": "q-9", "label": "no-such-intent"})
    assert not refused and (state.labels_sent, state.labels_failed) == (4, 1)
    assert await _settled(served, 4) == 4


class _DropsFirstConnection(httpx.AsyncBaseTransport):
    """The real app behind a network that loses the first request."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.lost = inner, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.lost:
            self.lost += 1
            raise httpx.ConnectError("connection reset", request=request)
        return await self.inner.handle_async_request(request)


async def test_a_label_lost_on_the_way_is_sent_again(served: Served) -> None:
    from streams.demo.live import LiveState, send_label

    transport = _DropsFirstConnection(httpx.ASGITransport(app=served.app))
    async with httpx.AsyncClient(transport=transport, base_url="http://serve", headers=_bearer(HUMAN)) as client:
        state = LiveState()
        assert await send_label(client, state, {"request_id": "lost-1", "verdict": "pass"})
    assert transport.lost == 1 and (state.labels_sent, state.labels_failed) == (1, 0)
    assert await _settled(served, 1) == 1
