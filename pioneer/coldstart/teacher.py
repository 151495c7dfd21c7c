"""Teachers that label texts for cold start, behind one verb: ``classify(text, task) -> answer``.

- :class:`EndpointTeacher`: an OpenAI-compatible chat-completions endpoint (``pioneer serve`` exposes one for
  generation models; so do vLLM, llama.cpp, Ollama and hosted APIs).
- :class:`SimulatedTeacher`: answers from gold labels with a stated error rate, for offline benches where no
  strong teacher is at hand. Its name says so, and reports print the name.

The raw answer is read into a label by :func:`parse_label`; anything that names no label is garbage, counted and
skipped. A teacher that cannot answer at all (HTTP error, timeout, malformed body) raises :class:`TeacherError`.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path

from pioneer.chat import ChatEndpoint, ChatError
from pioneer.coldstart.sources import text_key
from pioneer.coldstart.task import TaskSpec
from pioneer.errors import ConfigError, PioneerError

PROMPT = (
    "Task: {description}\n"
    "Labels:\n{labels}\n\n"
    "Text: {text}\n\n"
    "Answer with exactly one label from the list and nothing else."
)


class TeacherError(PioneerError):
    """The teacher failed to answer (unreachable, timed out, errored, or answered garbage throughout)."""


class Teacher(ABC):
    """A model that labels one text of a task."""

    name: str
    """Short name printed in reports and kept in each example's provenance (``teacher:<name>``)."""

    @abstractmethod
    def classify(self, text: str, task: TaskSpec) -> str:
        """The teacher's raw answer for ``text`` (read into a label by :func:`parse_label`)."""


def parse_label(answer: str, labels: Sequence[str]) -> str | None:
    """The label an answer names, or None when it names none or several.

    >>> parse_label("Label: pay_bill.", ["pay_bill", "balance"])
    'pay_bill'
    >>> parse_label("pay bill", ["pay_bill", "balance"])
    'pay_bill'
    >>> parse_label("I cannot help with that", ["pay_bill", "balance"]) is None
    True
    """
    by_key = {text_key(label.replace("_", " ")): label for label in labels}
    key = text_key(answer.replace("_", " "))
    key = re.sub(r"^(the )?(label|answer|intent|category)( is)? ", "", key)
    if key in by_key:
        return by_key[key]
    found = {label for k, label in by_key.items() if re.search(rf"\b{re.escape(k)}\b", key)}
    # The longest match wins when one label contains another ("balance" in "bill balance").
    if found:
        longest = max(found, key=len)
        if all(text_key(f.replace("_", " ")) in text_key(longest.replace("_", " ")) for f in found):
            return longest
    return None


class EndpointTeacher(Teacher):
    """A chat model behind an OpenAI-compatible endpoint (``pioneer serve``, a hosted API) asked for one label;
    a failed call (HTTP error, timeout, no reply) is a :class:`TeacherError`."""

    def __init__(self, chat: ChatEndpoint) -> None:
        self.chat = chat
        self.name = f"{chat.model}@{chat.base_url}"

    def __repr__(self) -> str:
        return f"EndpointTeacher(chat={self.chat!r})"

    def classify(self, text: str, task: TaskSpec) -> str:
        labels = "\n".join(
            f"- {label}" + (f": {task.label_descriptions[label]}" if task.label_descriptions.get(label) else "")
            for label in task.labels
        )
        prompt = PROMPT.format(description=task.description, labels=labels, text=text)
        try:
            return self.chat.complete([{"role": "user", "content": prompt}], temperature=0)
        except ChatError as exc:
            raise TeacherError(f"teacher {self.name} {exc}") from exc


class SimulatedTeacher(Teacher):
    """Answers from gold labels, wrong on a stated share of texts (for offline benches).

    Which texts get a wrong answer, and which wrong label, is fixed by a hash of the text and ``seed``, so reruns
    agree. A text without a gold label gets an empty answer (garbage to :func:`parse_label`).

    Parameters
    ----------
    gold
        Text -> label (texts are matched after :func:`~pioneer.coldstart.sources.text_key`).
    error_rate
        Share of answers replaced by another label, in [0, 1).

    >>> teacher = SimulatedTeacher({"pay my rent": "pay_bill"}, error_rate=0.0)
    >>> teacher.name
    'simulated-0%'
    """

    def __init__(self, gold: Mapping[str, str], *, error_rate: float, seed: int = 0) -> None:
        if not 0.0 <= error_rate < 1.0:
            raise ConfigError(f"simulated teacher error_rate={error_rate!r} must be in [0, 1)")
        self.gold = {text_key(text): label for text, label in gold.items()}
        self.error_rate = error_rate
        self.seed = seed
        self.name = f"simulated-{100 * error_rate:g}%"

    def __repr__(self) -> str:
        return f"SimulatedTeacher(gold={len(self.gold)} texts, error_rate={self.error_rate}, seed={self.seed})"

    def classify(self, text: str, task: TaskSpec) -> str:
        label = self.gold.get(text_key(text))
        if label is None:
            return ""
        digest = hashlib.sha256(f"{self.seed}:{text_key(text)}".encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 >= self.error_rate:
            return label
        others = [other for other in task.labels if other != label]
        return others[int.from_bytes(digest[8:16], "big") % len(others)] if others else label


def teacher_from_option(value: str, *, api_key: str | None = None, timeout: float = 30.0) -> Teacher:
    """``simulated:FILE:RATE`` (FILE: JSON lines or CSV with text and label) or ``URL#MODEL`` (``#MODEL``
    defaults to ``production``, the name ``pioneer serve`` answers to)."""
    if value.startswith("simulated:"):
        _, _, rest = value.partition(":")
        path, sep, rate = rest.rpartition(":")
        if not sep or not path:
            raise ConfigError(f"--teacher {value!r}: write simulated:FILE:RATE, e.g. simulated:gold.jsonl:0.05")
        try:
            error_rate = float(rate.rstrip("%")) / (100.0 if rate.endswith("%") else 1.0)
        except ValueError:
            raise ConfigError(f"--teacher {value!r}: RATE {rate!r} is not a number such as 0.05 or 5%") from None
        return SimulatedTeacher(_gold_labels(Path(path)), error_rate=error_rate)
    url, _, model = value.partition("#")
    return EndpointTeacher(ChatEndpoint(url, model or "production", api_key=api_key, timeout=timeout))


def _gold_labels(path: Path) -> dict[str, str]:
    from pioneer.data import load_dataset

    if not path.exists():
        raise ConfigError(f"simulated teacher gold file {str(path)!r} does not exist")
    return {e.text: str(e.label) for e in load_dataset(path, task="classification")}
