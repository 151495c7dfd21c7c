"""Teacher augmentation through an OpenAI-compatible endpoint (a real httpx client against a local transport)."""

from __future__ import annotations

import json

import httpx
import pytest

from pioneer.chat import ChatEndpoint
from pioneer.curriculum import OpenAICompatibleTeacher, augment, parse_lines
from pioneer.errors import ConfigError
from pioneer.events import Span
from pioneer.training import Example


def endpoint(answer: str, seen: list[dict]):
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(
            {"url": str(request.url), "auth": request.headers.get("authorization"), "body": json.loads(request.content)}
        )
        return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": answer}}]})

    return httpx.MockTransport(handle)


def test_paraphrases_keep_the_gold_answer_and_drop_duplicates() -> None:
    seen: list[dict] = []
    answer = "1. shift cash into savings\n2. Move money to savings\n- put funds in savings"
    teacher = OpenAICompatibleTeacher(
        ChatEndpoint("http://teacher.local/v1/", "tiny", api_key="k", transport=endpoint(answer, seen))
    )
    gold = [Example(id="g1", text="move money to savings", label="transfer")]
    out = augment("classification", gold, teacher, per_example=2)
    assert [(e.id, e.text, e.label) for e in out] == [
        ("aug:g1:0", "shift cash into savings", "transfer"),
        ("aug:g1:1", "put funds in savings", "transfer"),
    ]
    assert seen[0]["url"] == "http://teacher.local/v1/chat/completions" and seen[0]["auth"] == "Bearer k"
    assert seen[0]["body"]["model"] == "tiny" and "move money to savings" in seen[0]["body"]["messages"][0]["content"]


def test_a_failing_teacher_is_skipped_not_fatal() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(503, json={"error": "busy"}))
    teacher = OpenAICompatibleTeacher(ChatEndpoint("http://teacher.local/v1", "tiny", transport=transport))
    assert augment("classification", [Example(id="g", text="hi", label="greet")], teacher) == []


def test_entity_extraction_is_never_augmented() -> None:
    seen: list[dict] = []
    teacher = OpenAICompatibleTeacher(ChatEndpoint("http://t/v1", "m", transport=endpoint("anything", seen)))
    gold = [Example(id="g", text="table for smith", spans=(Span(start=10, end=15, label="last_name"),))]
    assert augment("entity_extraction", gold, teacher) == [] and seen == []


def test_configuration_is_checked_and_read_from_the_environment(monkeypatch) -> None:
    with pytest.raises(ConfigError):
        ChatEndpoint("teacher.local", "m")
    monkeypatch.delenv("PIONEER_TEACHER_URL", raising=False)
    assert OpenAICompatibleTeacher.from_env() is None
    monkeypatch.setenv("PIONEER_TEACHER_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("PIONEER_TEACHER_MODEL", "llama")
    assert OpenAICompatibleTeacher.from_env().chat.model == "llama"


def test_parse_lines_strips_markers() -> None:
    assert parse_lines('* "a b"\n3) c\n\n') == ["a b", "c"]
