"""Checkers and the endpoint judge; the endpoint judge talks HTTP to a real local server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pioneer.chat import ChatEndpoint
from pioneer.events import InferenceLog, Input, ModelRef, Output
from pioneer.judging import (
    EndpointJudge,
    JsonSchemaChecker,
    JudgeError,
    NumericChecker,
    RegexChecker,
)


def _log(text: str | None, question: str = "What is 17 + 25?", label: str | None = None) -> InferenceLog:
    return InferenceLog(event_id="e1", timestamp=1.0, request_id="r1", model=ModelRef(name="m", version="v"),
                        task="generation", input=Input(text=question), prediction=Output(text=text, label=label), latency_ms=1)


@pytest.mark.parametrize(("answer", "verdict"), [("17 + 25 = 42", "pass"), ("It is 1,042.", "fail"), ("forty-two", "fail"), ("42.0", "pass")])
def test_numeric_checker_reads_the_last_number(answer: str, verdict: str) -> None:
    assert NumericChecker(reference={"What is 17 + 25?": 42}).judge(_log(answer)).verdict == verdict


def test_numeric_checker_without_a_reference_says_unjudgeable() -> None:
    checker = NumericChecker(expected=lambda log: None)
    with pytest.raises(JudgeError) as caught:
        checker.judge(_log("42"))
    assert caught.value.kind == "unjudgeable"
    with pytest.raises(ValueError, match="exactly one"):
        NumericChecker()


def test_json_schema_checker() -> None:
    checker = JsonSchemaChecker(schema={"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}})
    assert checker.judge(_log('{"city": "Oslo"}')).verdict == "pass"
    assert checker.judge(_log('```json\n{"city": "Oslo"}\n```')).verdict == "pass"
    missing = checker.judge(_log('{"town": "Oslo"}'))
    assert missing.verdict == "fail" and "city" in missing.reason
    assert checker.judge(_log("Oslo")).verdict == "fail"
    with pytest.raises(ValueError, match="schema"):
        JsonSchemaChecker(schema={"type": 12})


def test_regex_checker_and_an_answer_with_nothing_to_check() -> None:
    assert RegexChecker(pattern=r"^\d{4}-\d{2}-\d{2}$", fullmatch=True).judge(_log("2024-05-01")).verdict == "pass"
    assert RegexChecker(pattern=r"^\d{4}-\d{2}-\d{2}$", fullmatch=True).judge(_log("May 1")).verdict == "fail"
    assert RegexChecker(pattern="greet").judge(_log(None, label="greet")).verdict == "pass"
    with pytest.raises(JudgeError, match="neither"):
        RegexChecker(pattern="x").judge(_log(None))
    with pytest.raises(ValueError, match="regular expression"):
        RegexChecker(pattern="(")


class _Replies(BaseHTTPRequestHandler):
    """Answers /v1/chat/completions with the server's next scripted reply: (status, body, delay)."""

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.server.requests.append((self.headers.get("Authorization"), json.loads(self.rfile.read(length))))  # type: ignore[attr-defined]
        status, body, delay = self.server.script.pop(0)  # type: ignore[attr-defined]
        time.sleep(delay)
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Replies)
    httpd.script, httpd.requests = [], []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _completion(content: object) -> dict:
    return {"id": "c1", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}


def test_endpoint_judge_reads_a_strict_verdict(server: ThreadingHTTPServer) -> None:
    server.script += [(200, _completion('{"verdict": "fail", "score": 0.1, "reason": "17 + 25 is 42"}'), 0)]
    judge = EndpointJudge(ChatEndpoint(f"http://127.0.0.1:{server.server_port}/v1", "grader", api_key="k"))
    verdict = judge.judge(_log("41"))
    assert (verdict.verdict, verdict.score, verdict.reason) == ("fail", 0.1, "17 + 25 is 42")
    assert verdict.judge == judge.name == f"endpoint:grader@127.0.0.1:{server.server_port}"
    auth, body = server.requests[0]
    assert auth == "Bearer k" and body["model"] == "grader" and "41" in body["messages"][-1]["content"]


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (200, _completion("Looks right to me!"), "invalid_reply"),
        (200, _completion('{"verdict": "maybe", "score": 0.5}'), "invalid_reply"),
        (200, _completion('{"verdict": "pass", "score": 7}'), "invalid_reply"),
        (200, _completion('{"verdict": "pass", "score": true}'), "invalid_reply"),
        (200, _completion('["pass"]'), "invalid_reply"),
        (200, _completion(None), "invalid_reply"),
        (200, {"choices": []}, "invalid_reply"),
        (200, "<html>not json</html>", "invalid_reply"),
        (500, {"error": "overloaded"}, "transport"),
        (401, {"error": "bad key"}, "transport"),
    ],
)
def test_endpoint_judge_refuses_anything_but_a_verdict(server: ThreadingHTTPServer, status: int, body: object, kind: str) -> None:
    server.script.append((status, body, 0))
    judge = EndpointJudge(ChatEndpoint(f"http://127.0.0.1:{server.server_port}/v1", "grader"))
    with pytest.raises(JudgeError) as caught:
        judge.judge(_log("42"))
    assert caught.value.kind == kind


def test_endpoint_judge_times_out_and_reports_an_unreachable_endpoint(server: ThreadingHTTPServer) -> None:
    server.script.append((200, _completion('{"verdict": "pass", "score": 1}'), 2.0))
    judge = EndpointJudge(ChatEndpoint(f"http://127.0.0.1:{server.server_port}/v1", "grader", timeout=0.3))
    with pytest.raises(JudgeError) as caught:
        judge.judge(_log("42"))
    assert caught.value.kind == "timeout"
    closed = EndpointJudge(ChatEndpoint("http://127.0.0.1:9/v1", "grader", timeout=2))
    with pytest.raises(JudgeError) as caught:
        closed.judge(_log("42"))
    assert caught.value.kind == "transport"
