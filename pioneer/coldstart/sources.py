"""Provenance: every acquired example carries where it came from, and the journal that keeps them on disk.

Sources in order of trust: ``user`` (the user's labelled examples), ``corpus:<name>`` (a labelled local corpus),
``teacher:<name>`` (a text labelled by a teacher model), ``synthetic:<name>`` (a text a teacher wrote for a label). :class:`AcquiredStore` appends each example to a JSON
lines journal as soon as it is acquired and flushes it, so a teacher that fails half-way loses nothing: a rerun
reads the journal back and asks only about the texts not yet answered.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from pioneer.registry import example_from_dict, example_to_dict
from pioneer.training.base import Example

log = logging.getLogger(__name__)

TRUST = {"user": 0, "corpus": 1, "teacher": 2, "synthetic": 3}
"""Lower is more trusted."""

MACHINE = ("teacher", "synthetic")
"""Sources whose labels a model gave: curation may dispute them, never a user's or a corpus's."""


def source_kind(source: str) -> str:
    """``teacher:simulated-5%`` -> ``teacher``."""
    return source.partition(":")[0]


def machine_labelled(source: str) -> bool:
    """Whether a model labelled (or wrote) the example: ``teacher:...`` and ``synthetic:...``."""
    return source_kind(source) in MACHINE


def trust(source: str) -> int:
    return TRUST.get(source_kind(source), len(TRUST))


def text_key(text: str) -> str:
    """The form two texts are compared in: case-folded, punctuation dropped, single spaces.

    >>> text_key("  What's my   BALANCE? ")
    'what s my balance'
    """
    return " ".join(re.sub(r"[^\w]+", " ", text.casefold()).split())


@dataclass(frozen=True, slots=True)
class Sourced:
    """An example and its provenance."""

    example: Example
    source: str

    def to_dict(self) -> dict:
        return {**example_to_dict(self.example), "source": self.source}

    @classmethod
    def from_dict(cls, data: dict) -> Sourced:
        data = dict(data)
        source = str(data.pop("source"))
        return cls(example_from_dict(data), source)


def provenance_mix(items: Iterable[Sourced]) -> dict[str, int]:
    """How many examples each source gave, most trusted first."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item.source] = counts.get(item.source, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (trust(kv[0]), kv[0])))


class AcquiredStore:
    """A JSON lines journal of acquired examples (``{"answered": false}`` lines record texts a teacher could not
    label, so reruns do not ask again).

    Parameters
    ----------
    path
        The journal file; created with its folder on the first write.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._items: list[Sourced] = []
        self._asked: set[str] = set()
        if self.path.exists():
            self._read()

    def __repr__(self) -> str:
        return f"AcquiredStore(path={str(self.path)!r})"

    def _read(self) -> None:
        with self.path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    data = orjson.loads(line)
                    item = Sourced.from_dict(data) if data.get("answered", True) else None
                    text = str(data.get("text", ""))
                except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
                    # a line cut by a crash mid-write, or damaged: its text is asked again, so nothing is lost
                    log.warning("%s:%d: unreadable journal line skipped (%s)", self.path, number, exc)
                    continue
                self._asked.add(text_key(text))
                if item is not None:
                    self._items.append(item)

    @property
    def items(self) -> list[Sourced]:
        return list(self._items)

    def asked(self, text: str) -> bool:
        """Whether ``text`` is already in the journal (labelled or recorded as unanswerable)."""
        return text_key(text) in self._asked

    def add(self, items: Sequence[Sourced]) -> None:
        """Append ``items`` to the journal and flush it to disk before returning."""
        self._write([item.to_dict() for item in items])
        self._items.extend(items)
        self._asked.update(text_key(item.example.text) for item in items)

    def add_unanswered(self, text: str, source: str, answer: str, reason: str | None = None) -> None:
        """Record that ``source`` gave no usable answer for ``text`` (``reason``: why a checker rejected it)."""
        record = {"text": text, "source": source, "answered": False, "answer": answer[:200]}
        if reason:
            record["rejected"] = reason[:200]
        self._write([record])
        self._asked.add(text_key(text))

    def _write(self, records: list[dict]) -> None:
        if not records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
