"""Teacher models that augment a curriculum with paraphrases of its gold examples (optional, off by default).

Two teachers share one verb, ``complete(prompt) -> text``:

- :class:`OpenAICompatibleTeacher`: any chat-completions endpoint (OpenAI, vLLM, llama.cpp server, Ollama...),
  configured by URL, model and key (or ``PIONEER_TEACHER_URL``/``_MODEL``/``_API_KEY``);
- :class:`LocalTeacher`: a generation adapter, such as the local SmolLM2, asked through ``predict``.

:func:`augment` asks for paraphrases of each gold input and keeps the gold answer. It refuses entity
extraction (a paraphrase moves the entities, so the gold spans would be wrong) and drops paraphrases that
repeat an existing text.
"""

from __future__ import annotations

import logging
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence

import httpx

from pioneer.chat import ChatEndpoint, ChatError
from pioneer.errors import ConfigError
from pioneer.training.base import Example, TaskAdapter

log = logging.getLogger(__name__)

PROMPT = (
    "Write {n} different ways a user could phrase the request below. Keep its meaning and intent; vary the words."
    " Answer with one phrasing per line and nothing else.\n\nRequest: {text}"
)


class Teacher(ABC):
    """A model that completes a prompt."""

    @abstractmethod
    def complete(self, prompt: str) -> str:
        """The teacher's answer to ``prompt``."""


class OpenAICompatibleTeacher(Teacher):
    """A chat model behind an OpenAI-compatible endpoint, asked for paraphrases.

    Parameters
    ----------
    chat
        The endpoint and the model asked there.
    temperature
        Sampling temperature (some variety is the point of paraphrasing).
    """

    def __init__(self, chat: ChatEndpoint, *, temperature: float = 0.7) -> None:
        self.chat = chat
        self.temperature = temperature

    def __repr__(self) -> str:
        return f"OpenAICompatibleTeacher(chat={self.chat!r}, temperature={self.temperature})"

    @classmethod
    def from_env(cls) -> OpenAICompatibleTeacher | None:
        """The teacher ``PIONEER_TEACHER_URL`` and ``PIONEER_TEACHER_MODEL`` configure, or None when unset."""
        url, model = os.environ.get("PIONEER_TEACHER_URL"), os.environ.get("PIONEER_TEACHER_MODEL")
        if not url or not model:
            return None
        return cls(ChatEndpoint(url, model, api_key=os.environ.get("PIONEER_TEACHER_API_KEY") or None, timeout=60.0))

    def complete(self, prompt: str) -> str:
        try:
            return self.chat.complete([{"role": "user", "content": prompt}], temperature=self.temperature)
        except ChatError as exc:
            raise ValueError(f"teacher {self.chat.model}@{self.chat.base_url} {exc}") from exc


class LocalTeacher(Teacher):
    """A local generation adapter (for example SmolLM2-135M-Instruct) used as the teacher.

    Parameters
    ----------
    adapter
        A generation :class:`~pioneer.training.TaskAdapter`; its ``predict`` output text is the answer.
    """

    def __init__(self, adapter: TaskAdapter) -> None:
        if adapter.task != "generation":
            raise ConfigError(f"a local teacher must be a generation adapter, got a {adapter.task} adapter")
        self.adapter = adapter

    def __repr__(self) -> str:
        return f"LocalTeacher(adapter={type(self.adapter).__name__})"

    def complete(self, prompt: str) -> str:
        return self.adapter.predict([prompt])[0].text or ""


def parse_lines(answer: str) -> list[str]:
    """One phrasing per non-empty line, with list markers and quotes removed.

    >>> parse_lines("1. move cash to savings\\n- \\"shift money into savings\\"\\n\\n")
    ['move cash to savings', 'shift money into savings']
    """
    lines = []
    for line in answer.splitlines():
        line = re.sub(r"^\s*(?:[-*\u2022]|\d+[.)])\s*", "", line).strip().strip("\"'").strip()
        if line:
            lines.append(line)
    return lines


def augment(task: str, gold: Sequence[Example], teacher: Teacher, *, per_example: int = 2) -> list[Example]:
    """Up to ``per_example`` teacher paraphrases of each gold input, with the gold answer; ids ``aug:<id>:<k>``."""
    if task == "entity_extraction":
        log.warning("augmentation skipped: paraphrases would move the entity spans of entity-extraction examples")
        return []
    seen = {" ".join(e.text.split()).casefold() for e in gold}
    out: list[Example] = []
    for example in gold:
        try:
            answer = teacher.complete(PROMPT.format(n=per_example, text=example.text))
        except (httpx.HTTPError, ValueError) as exc:
            log.warning(
                "teacher failed; continuing without its paraphrases", extra={"id": example.id, "error": str(exc)}
            )
            continue
        k = 0
        for line in parse_lines(answer):
            key = " ".join(line.split()).casefold()
            if key in seen or k >= per_example:
                continue
            seen.add(key)
            out.append(
                Example(
                    id=f"aug:{example.id}:{k}",
                    text=line,
                    label=example.label,
                    target=example.target,
                    system_prompt=example.system_prompt,
                )
            )
            k += 1
    return out
