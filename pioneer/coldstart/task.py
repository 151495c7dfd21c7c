"""Task analysis: what kind of model, which labels, which metric, from a description and whatever examples exist.

Explicit options win over examples, and examples over the description. When the three together do not say
enough to train anything, :func:`analyse_task` raises :class:`TaskTooThinError` naming what to add.

>>> spec = analyse_task("Classify a support ticket into one of: billing, outage, login")
>>> spec.kind, spec.labels, spec.metric
('classification', ('billing', 'outage', 'login'), 'accuracy')
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pioneer.errors import ConfigError
from pioneer.events import TASKS
from pioneer.training.base import Example

METRICS = {"classification": "accuracy", "entity_extraction": "entity_f1", "generation": "exact_match"}

# Words that say what a model does, per kind; the first kind with a hit in the description wins.
KIND_WORDS = {
    "entity_extraction": r"\b(extract\w*|entit\w*|slots?|tag\w*|ner|spans?|mentions?|fill\w* slots?)\b",
    "classification": r"\b(classif\w*|categori[sz]\w*|intents?|sentiment|labels?|detect\w*|route|which of|one of)\b",
    "generation": r"\b(generat\w*|writ\w*|answer\w*|summari[sz]\w*|translat\w*|solv\w*|rewrit\w*|explain\w*)\b",
}
LABEL_LIST = re.compile(r"(?:labels?|categories|classes|intents|one of|into)\s*(?:are|is)?\s*[:\-]\s*(.+)$", re.IGNORECASE | re.DOTALL)
MIN_WORDS = 3


class TaskTooThinError(ConfigError):
    """The description and examples do not say enough to build a task; the message says what to add."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSpec:
    """What cold start builds: the kind of model, its labels (classification, entity types) and its metric."""

    description: str
    kind: str
    labels: tuple[str, ...] = ()
    label_descriptions: Mapping[str, str] = field(default_factory=dict)
    metric: str = "accuracy"
    notes: tuple[str, ...] = ()
    """How each part was decided (given, from the examples, from the description): the report prints them."""


def parse_labels(text: str) -> dict[str, str]:
    """``"a, b, c"`` or ``"a: what a means; b: ..."`` (``;`` or new lines separate entries that have descriptions).

    >>> parse_labels("refund: money back; delivery: where is my parcel")
    {'refund': 'money back', 'delivery': 'where is my parcel'}
    >>> parse_labels("pos, neg or neutral")
    {'pos': '', 'neg': '', 'neutral': ''}
    """
    separator = r"[;\n]" if re.search(r"[;\n]", text) else r",|\bor\b|\band\b"
    out: dict[str, str] = {}
    for entry in re.split(separator, text):
        name, _, about = entry.partition(":")
        name = name.strip().strip("\"'.").strip()
        if name:
            out[name] = about.strip()
    return out


def analyse_task(
    description: str,
    *,
    kind: str | None = None,
    labels: Mapping[str, str] | Sequence[str] | str | None = None,
    examples: Sequence[Example] = (),
) -> TaskSpec:
    """The task the description and examples describe; raises :class:`TaskTooThinError` saying what to add."""
    description = " ".join((description or "").split())
    words = re.findall(r"[A-Za-z]{2,}", description)
    if len(words) < MIN_WORDS and not examples:
        raise TaskTooThinError(
            f"the description {description!r} is too thin to build a task from ({len(words)} words): say what the "
            "input is and what the model should output, e.g. \"Classify a bank customer's message into one of: "
            "balance, transfer, lost_card\", or pass --examples FILE with a few labelled examples"
        )
    notes: list[str] = []
    kind = _decide_kind(description, kind, examples, notes)
    label_map = _decide_labels(description, kind, labels, examples, notes)
    if kind == "classification" and len(label_map) < 2:
        raise TaskTooThinError(
            "a classification task needs at least two labels and none could be read from the description: "
            "pass --labels 'a, b, c' (or 'a: what a means; b: ...'), list them in the description after "
            "'one of:', or pass --examples FILE whose examples carry at least two labels"
        )
    return TaskSpec(
        description=description,
        kind=kind,
        labels=tuple(label_map),
        label_descriptions={k: v for k, v in label_map.items() if v},
        metric=METRICS[kind],
        notes=tuple(notes),
    )


def _decide_kind(description: str, kind: str | None, examples: Sequence[Example], notes: list[str]) -> str:
    if kind is not None:
        if kind not in TASKS:
            raise ConfigError(f"kind={kind!r} is not known; use one of {', '.join(TASKS)}")
        notes.append(f"kind {kind}: given")
        return kind
    shapes = Counter(
        "classification" if e.label is not None else "entity_extraction" if e.spans is not None else "generation"
        for e in examples
        if e.label is not None or e.spans is not None or e.target is not None
    )
    if shapes:
        found = shapes.most_common(1)[0][0]
        notes.append(f"kind {found}: from the examples' answer field")
        return found
    for candidate, pattern in KIND_WORDS.items():
        hit = re.search(pattern, description, re.IGNORECASE)
        if hit:
            notes.append(f"kind {candidate}: the description says {hit.group(0)!r}")
            return candidate
    raise TaskTooThinError(
        "cannot tell what kind of model the description asks for: pass --kind classification|entity_extraction|"
        "generation, or say it in the description ('classify ... into one of: ...', 'extract the ... from ...', "
        "'answer ...')"
    )


def _decide_labels(
    description: str,
    kind: str,
    labels: Mapping[str, str] | Sequence[str] | str | None,
    examples: Sequence[Example],
    notes: list[str],
) -> dict[str, str]:
    if kind == "generation":
        return {}
    if labels:
        given = parse_labels(labels) if isinstance(labels, str) else (
            dict(labels) if isinstance(labels, Mapping) else {str(k): "" for k in labels}
        )
        seen = _example_labels(kind, examples)
        unknown = sorted(set(seen) - set(given))
        if unknown:
            raise ConfigError(
                f"the examples use labels that --labels does not list: {', '.join(unknown[:10])}; add them to "
                "--labels or fix the examples"
            )
        notes.append(f"{len(given)} labels: given")
        return given
    seen = _example_labels(kind, examples)
    if seen:
        notes.append(f"{len(seen)} labels: from the examples")
        return {name: "" for name in seen}
    match = LABEL_LIST.search(description)
    if match:
        found = parse_labels(match.group(1).rstrip("."))
        if found:
            notes.append(f"{len(found)} labels: listed in the description")
            return found
    return {}


def _example_labels(kind: str, examples: Sequence[Example]) -> list[str]:
    if kind == "classification":
        return sorted({str(e.label) for e in examples if e.label is not None})
    return sorted({s.label for e in examples for s in e.spans or ()})
