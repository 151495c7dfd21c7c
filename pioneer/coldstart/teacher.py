"""Teachers that label texts for cold start, behind one verb: ``classify(text, task) -> answer``.

For a classification task the answer names a label; for an entity-extraction task it is a JSON list of
``{"text": mention, "type": entity type}`` objects (read into character spans by :func:`parse_spans`); for a
generation task it is the answer itself, worked where the teacher shows its working (a checker may filter it:
:mod:`pioneer.coldstart.checking`).

- :class:`EndpointTeacher`: an OpenAI-compatible chat-completions endpoint (``pioneer serve`` exposes one for
  generation models; so do vLLM, llama.cpp, Ollama and hosted APIs).
- :class:`SimulatedTeacher`: answers from gold labels with a stated error rate, for offline benches where no
  strong teacher is at hand. Its name says so, and reports print the name.

The raw answer is read into a label by :func:`parse_label`; anything that names no label is garbage, counted and
skipped. A teacher that cannot answer at all (HTTP error, timeout, malformed body) raises :class:`TeacherError`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path

import orjson

from pioneer.chat import ChatEndpoint, ChatError
from pioneer.coldstart.sources import text_key
from pioneer.coldstart.task import TaskSpec
from pioneer.errors import ConfigError, PioneerError
from pioneer.events import Span

PROMPT = (
    "Task: {description}\n"
    "Labels:\n{labels}\n\n"
    "Text: {text}\n\n"
    "Answer with exactly one label from the list and nothing else."
)


ENTITY_PROMPT = (
    "Task: {description}\n"
    "Entity types:\n{labels}\n\n"
    "Text: {text}\n\n"
    'Answer with a JSON list of the entities in the text, each as {{"text": the exact words, "type": one type '
    "from the list}}, and nothing else; answer [] when there are none."
)


GENERATION_PROMPT = (
    "Task: {description}\n\n"
    "{text}\n\n"
    "Show the working in one short line, ending with the final answer."
)


SYNTHESIS_PROMPT = (
    "Task: {description}\n"
    "Label: {label}{meaning}\n\n"
    "Write {n} different, realistic texts that belong to this label, as a user would write them. One per line, "
    "no numbering, nothing else."
)


INPUT_SYNTHESIS_PROMPT = (
    "Task: {description}\n"
    "{examples}\n"
    "Write {n} new, different inputs for this task, as a user would write them{after}{mentioning}. One per line, "
    "no numbering, no answers, nothing else."
)


MAX_SHOWN = 8
"""User inputs shown in a request to write more (enough to show the manner; a long prompt costs every call)."""


class TeacherError(PioneerError):
    """The teacher failed to answer (unreachable, timed out, errored, or answered garbage throughout)."""


class Teacher(ABC):
    """A model that labels one text of a task."""

    name: str
    """Short name printed in reports and kept in each example's provenance (``teacher:<name>``)."""

    @abstractmethod
    def classify(self, text: str, task: TaskSpec) -> str:
        """The teacher's raw answer for ``text`` (read into a label by :func:`parse_label`)."""

    def synthesize(self, label: str, task: TaskSpec, n: int, *, like: Sequence[str] = ()) -> str:
        """The teacher's raw answer when asked to write ``n`` texts of ``label`` (read by :func:`parse_lines`); for an
        entity or generation task (``label`` empty), ``n`` new inputs in the manner of ``like``."""
        raise TeacherError(f"teacher {self.name} cannot write examples")


def parse_lines(answer: str, n: int) -> list[str]:
    """The texts of a synthesis answer: one per line, list markers and quotes stripped, at most ``n``.

    >>> parse_lines('Here are some:\\n1. "book a table"\\n- table for two please', 5)
    ['book a table', 'table for two please']
    """
    texts = []
    for line in answer.splitlines():
        text = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip().strip('"').strip("'").strip()
        if not text or text.endswith(":") or len(text) > 500:
            continue
        texts.append(text)
    return texts[:n]


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


def parse_spans(answer: str, text: str, types: Sequence[str]) -> tuple[Span, ...] | None:
    """Character spans from a JSON list of ``{"text", "type"}`` objects, or None when the answer is not one.

    Each mention is found in ``text`` (a repeated mention takes its next occurrence); a mention that is not in
    the text, or a type outside ``types``, makes the whole answer garbage rather than a partial label.

    >>> parse_spans('[{"text": "Oslo", "type": "LOC"}]', "Flights to Oslo", ["LOC", "PER"])
    (Span(start=11, end=15, label='LOC', text='Oslo'),)
    >>> parse_spans("[]", "Nothing here", ["LOC"])
    ()
    >>> parse_spans("Oslo is a LOC", "Flights to Oslo", ["LOC"]) is None
    True
    """
    start, end = answer.find("["), answer.rfind("]")
    if start < 0 or end < start:
        return None
    try:
        items = orjson.loads(answer[start : end + 1])  # a teacher's answer may nest deeper than json can parse
    except ValueError:
        return None
    if not isinstance(items, list):
        return None
    spans: list[Span] = []
    taken: dict[str, int] = {}
    for item in items:
        if not isinstance(item, dict):
            return None
        mention, kind = str(item.get("text", "")).strip(), item.get("type", item.get("label"))
        label = parse_label(str(kind), types) if kind is not None else None
        if not mention or label is None:
            return None
        at = _find_words(text, mention, taken.get(mention, 0))
        if at < 0:
            return None
        taken[mention] = at + len(mention)
        spans.append(Span(start=at, end=at + len(mention), label=label, text=mention))
    spans.sort(key=lambda s: (s.start, s.end, s.label))
    if any(a.end > b.start for a, b in itertools.pairwise(spans)):
        return None  # overlapping mentions cannot be tagged
    return tuple(spans)


def _find_words(text: str, mention: str, start: int) -> int:
    """Where ``mention`` next occurs in ``text`` as whole words ("pm" is not in "upmarket"); -1 if nowhere."""
    found = re.compile(rf"(?<!\w){re.escape(mention)}(?!\w)").search(text, start)
    return -1 if found is None else found.start()


def spans_answer(spans: Sequence[Span], text: str) -> str:
    """The JSON answer a teacher gives for ``spans`` of ``text`` (what :func:`parse_spans` reads)."""
    return json.dumps([{"text": text[s.start : s.end], "type": s.label} for s in spans], ensure_ascii=False)


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
        template = {"entity_extraction": ENTITY_PROMPT, "generation": GENERATION_PROMPT}.get(task.kind, PROMPT)
        return self._ask(template.format(description=task.description, labels=labels, text=text), temperature=0)

    def synthesize(self, label: str, task: TaskSpec, n: int, *, like: Sequence[str] = ()) -> str:
        if task.kind != "classification":
            shown = "\n".join(f"- {text}" for text in list(like)[:MAX_SHOWN])
            mentioning = f", most of them mentioning some of: {', '.join(task.labels)}" if task.labels else ""
            prompt = INPUT_SYNTHESIS_PROMPT.format(
                description=task.description, n=n, examples=f"Inputs so far:\n{shown}\n" if shown else "",
                after=" in the manner of those above" if shown else "", mentioning=mentioning)
            return self._ask(prompt, temperature=0.8)
        meaning = task.label_descriptions.get(label)
        prompt = SYNTHESIS_PROMPT.format(description=task.description, label=label, n=n,
                                         meaning=f" ({meaning})" if meaning else "")
        return self._ask(prompt, temperature=0.8)  # some variety: the same prompt is asked once per label

    def _ask(self, prompt: str, *, temperature: float) -> str:
        try:
            return self.chat.complete([{"role": "user", "content": prompt}], temperature=temperature)
        except ChatError as exc:
            raise TeacherError(f"teacher {self.name} {exc}") from exc


class SimulatedTeacher(Teacher):
    """Answers from gold labels, wrong on a stated share of texts (for offline benches).

    Which texts get a wrong answer, and which wrong label, is fixed by a hash of the text and ``seed``, so reruns
    agree. A text without a gold label gets an empty answer (garbage to :func:`parse_label`).

    Parameters
    ----------
    gold
        Text -> label, or text -> spans for entity extraction (texts are matched after
        :func:`~pioneer.coldstart.sources.text_key`).
    error_rate
        Share of answers made wrong, in [0, 1): another label; for entities one mention dropped or given another
        type (on a text without entities, its first word tagged with a type); for generation the answer's last
        number off by a little.
    writes
        Label -> texts it "writes" when asked to synthesise (held-out gold texts, under the label ``""`` for an
        entity or generation task's inputs; None: it cannot write). A
        written text is another label's on ``error_rate`` of the requests.

    >>> teacher = SimulatedTeacher({"pay my rent": "pay_bill"}, error_rate=0.0)
    >>> teacher.name
    'simulated-0%'
    """

    def __init__(self, gold: Mapping[str, str | Sequence[Span]], *, error_rate: float, seed: int = 0,
                 writes: Mapping[str, Sequence[str]] | None = None) -> None:
        if not 0.0 <= error_rate < 1.0:
            raise ConfigError(f"simulated teacher error_rate={error_rate!r} must be in [0, 1)")
        self.gold = {text_key(text): label for text, label in gold.items()}
        self.error_rate = error_rate
        self.seed = seed
        self.writes = {label: list(texts) for label, texts in (writes or {}).items()}
        self._written: dict[str, int] = {}
        self.name = f"simulated-{100 * error_rate:g}%"

    def __repr__(self) -> str:
        return f"SimulatedTeacher(gold={len(self.gold)} texts, error_rate={self.error_rate}, seed={self.seed})"

    def synthesize(self, label: str, task: TaskSpec, n: int, *, like: Sequence[str] = ()) -> str:
        if not self.writes:
            raise TeacherError(f"teacher {self.name} cannot write examples (it was given no texts to write from)")
        return _simulated_synthesis(self, label, n)

    def classify(self, text: str, task: TaskSpec) -> str:
        label = self.gold.get(text_key(text))
        if label is None:
            return ""
        digest = hashlib.sha256(f"{self.seed}:{text_key(text)}".encode()).digest()
        wrong = int.from_bytes(digest[:8], "big") / 2**64 < self.error_rate
        pick = int.from_bytes(digest[8:16], "big")
        if not isinstance(label, str):
            return spans_answer(_corrupt(list(label), text, task.labels, pick) if wrong else label, text)
        if task.kind == "generation":
            return _wrong_number(label, pick) if wrong else label
        if not wrong:
            return label
        others = [other for other in task.labels if other != label]
        return others[pick % len(others)] if others else label


def _simulated_synthesis(teacher: SimulatedTeacher, label: str, n: int) -> str:
    """The next ``n`` held-out texts of ``label`` (some of another label, at the error rate), one per line."""
    others = sorted(other for other in teacher.writes if other != label)
    lines = []
    for _ in range(n):
        k = teacher._written.get(label, 0)
        teacher._written[label] = k + 1
        digest = hashlib.sha256(f"{teacher.seed}:write:{label}:{k}".encode()).digest()
        source = label
        if others and int.from_bytes(digest[:8], "big") / 2**64 < teacher.error_rate:
            source = others[int.from_bytes(digest[8:16], "big") % len(others)]
        texts = teacher.writes.get(source, [])
        if k < len(texts) or (source != label and texts):
            lines.append(texts[k % len(texts)])
    return "\n".join(lines)


def _wrong_number(answer: str, pick: int) -> str:
    """A teacher's arithmetic slip: the answer's last number off by 1 to 4, or 10 (kept non-negative)."""
    numbers = list(re.finditer(r"-?\d+", answer))
    if not numbers:
        return answer + " 1"
    last = numbers[-1]
    value = int(last.group(0))
    delta = (-4, -3, -2, -1, 1, 2, 3, 4, 10)[pick % 9]
    wrong = value + delta if value + delta >= 0 else value + abs(delta)
    return answer[: last.start()] + str(wrong) + answer[last.end():]


def _corrupt(spans: list[Span], text: str, types: Sequence[str], pick: int) -> list[Span]:
    """One teacher mistake on an entity answer: a mention dropped or retyped, or a stray word tagged."""
    if not spans:
        word = re.match(r"\S+", text)
        if word is None or not types:
            return []
        return [Span(start=word.start(), end=word.end(), label=types[pick % len(types)], text=word.group(0))]
    k = pick % len(spans)
    others = [t for t in types if t != spans[k].label]
    if pick // len(spans) % 2 == 0 or not others:
        return spans[:k] + spans[k + 1 :]
    retyped = Span(start=spans[k].start, end=spans[k].end, label=others[pick % len(others)], text=spans[k].text)
    return [*spans[:k], retyped, *spans[k + 1 :]]


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


def _gold_labels(path: Path) -> dict[str, str | tuple[Span, ...]]:
    from pioneer.data import load_dataset

    if not path.exists():
        raise ConfigError(f"simulated teacher gold file {str(path)!r} does not exist")
    return {e.text: str(e.label) if e.label is not None else e.target if e.target is not None else tuple(e.spans or ())
            for e in load_dataset(path)}
