"""Local labelled corpora: find the files under a folder whose labels are the task's, and take their examples.

A corpus is one labelled file anywhere under the folder (:data:`SUFFIXES`: intents in ``.jsonl``/``.csv``/``.tsv``;
entities also in CoNLL files and span JSON). Its labels (intents, or entity types) are matched to the task's by
the embedding similarity of their names (underscores read as spaces, the usual NER abbreviations spelled out),
one to one (each is the other's best match), and each match is confirmed on the texts: the centroid of the corpus
label's texts (for entity types, its mentions) must be nearer that task label's prototype (the centroid of the
user's examples of it, else its name) than any other's. A corpus is used when it matches at least
:data:`MIN_SHARE` of the task's labels; its examples of matched labels enter with provenance ``corpus:<path>``,
trusted below the user's examples and above the teacher's labels. An entity sentence enters only when every
mention in it has a matched type (a dropped mention would teach the tagger that it is no entity).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from pioneer.coldstart.sources import Sourced
from pioneer.coldstart.task import TaskSpec
from pioneer.errors import PioneerError
from pioneer.training.base import Example

log = logging.getLogger(__name__)

LABEL_MATCH = 0.65
"""Cosine of two label names' embeddings at or above which they may name the same label. Calibrated on
CLINC150 banking's 15 intent names against hand-written renames (13 of 15 at ≥ 0.72, the lowest 0.68) and
against the other domains' 135 names (highest 0.71: ``balance`` / ``rewards_balance``, which the one-to-one
rule, the text check and :data:`MIN_SHARE` keep out)."""

MIN_SHARE = 0.5
"""Share of the task's labels a corpus must match to be used: a corpus of another task shares a name or two."""

SUFFIXES = {
    "classification": (".jsonl", ".ndjson", ".csv", ".tsv"),
    "entity_extraction": (".jsonl", ".ndjson", ".conll", ".bio", ".iob", ".txt", ".json"),
}
MAX_TEXTS_PER_LABEL = 200
"""Texts per corpus label embedded for the text check (a sample: the centroid settles long before)."""

MAX_SENTENCES = 2_000
"""Sentences taken from one entity corpus (hash-chosen): a tagger's fit grows with its data and cold start's
budget is minutes on a CPU; the trainer bounds a tagger's replayed traffic at the same size for the same reason."""

NER_ABBREVIATIONS = {"per": "person", "loc": "location", "org": "organization", "misc": "miscellaneous",
                     "gpe": "country city or state", "norp": "nationality or group", "fac": "facility"}
"""The entity type names of the common NER corpora, spelled out so that their embeddings mean something."""


@dataclass(slots=True, kw_only=True)
class CorpusMatch:
    """One corpus found under the folder and how its labels map onto the task's."""

    name: str
    """The file's path relative to the folder searched."""
    path: Path
    labels: dict[str, str] = field(default_factory=dict)
    """Corpus label -> task label, for the matched labels only."""
    similarity: dict[str, float] = field(default_factory=dict)
    """Corpus label -> cosine of the two names."""
    share: float = 0.0
    used: bool = False
    reason: str = ""
    examples: list[Example] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"name": self.name, "used": self.used, "share": round(self.share, 3), "labels": self.labels,
                "reason": self.reason, "examples": sum(1 for e in self.examples if e.label in self.labels)}


def find_corpora(directory: Path, task: TaskSpec, *, user_examples: Sequence[Example] = (), embedder=None,
                 label_match: float = LABEL_MATCH, min_share: float = MIN_SHARE) -> list[CorpusMatch]:
    """Every labelled file under ``directory``, matched against ``task`` (see the module docstring).

    Unreadable or unlabelled files are listed with the reason and not used; nothing here raises on a bad file.
    """
    if task.kind not in SUFFIXES:
        return []
    if embedder is None:
        from pioneer.embedding import Embedder

        embedder = Embedder()
    found = []
    suffixes = SUFFIXES[task.kind]
    for path in sorted(p for p in Path(directory).rglob("*") if p.is_file() and p.suffix.lower() in suffixes):
        match = CorpusMatch(name=str(path.relative_to(directory)), path=path)
        found.append(match)
        try:
            match.examples = _read(path, task.kind)
        except (PioneerError, ValueError, KeyError, OSError) as exc:  # a bad corpus is skipped and reported
            match.reason = f"unreadable: {str(exc)[:160]}"
            continue
        if not match.examples:
            match.reason = "no labelled examples"
            continue
        _match_labels(match, task, user_examples, embedder, label_match)
        match.share = len(set(match.labels.values())) / len(task.labels)
        match.used = match.share >= min_share
        if not match.reason:
            match.reason = (f"matches {len(match.labels)} of the task's {len(task.labels)} labels"
                            + ("" if match.used else f" (under {min_share:.0%})"))
    log.info("local corpora searched", extra={"directory": str(directory),
                                               "corpora": [m.to_dict() for m in found]})
    return found


def corpus_items(matches: Sequence[CorpusMatch]) -> list[Sourced]:
    """The used corpora's examples of matched labels, relabelled with the task's names, with provenance."""
    items = []
    for match in matches:
        if not match.used:
            continue
        for example in match.examples:
            digest = hashlib.sha256(f"{match.name}\0{example.text}".encode()).hexdigest()[:16]
            relabelled = _relabelled(example, match.labels, f"corpus:{digest}")
            if relabelled is not None:
                items.append(Sourced(relabelled, f"corpus:{match.name}"))
    return items


def _relabelled(example: Example, labels: dict[str, str], id: str) -> Example | None:
    """``example`` under the task's label names; None where its label, or one of its mentions' types, is unmatched."""
    if example.spans is None:
        label = labels.get(str(example.label))
        return None if label is None else Example(text=example.text, label=label, id=id)
    if any(span.label not in labels for span in example.spans):
        return None
    spans = tuple(replace(span, label=labels[span.label]) for span in example.spans)
    return Example(text=example.text, spans=spans, id=id)


def _read(path: Path, kind: str) -> list[Example]:
    from pioneer.data import load_dataset

    examples = load_dataset(path, task=None if kind == "classification" else kind)
    if kind == "classification":
        return [e for e in examples if isinstance(e.label, str) and e.label.strip() and e.text.strip()]
    sentences = [e for e in examples if e.spans is not None and e.text.strip()]
    return sorted(sentences, key=lambda e: _digest(e.text))[:MAX_SENTENCES]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _texts_by_label(examples: Sequence[Example]) -> dict[str, list[str]]:
    """Each label's texts: the examples' texts for intents, the mentions' texts for entity types."""
    by_label: dict[str, list[str]] = defaultdict(list)
    for example in examples:
        if example.spans is None:
            by_label[str(example.label)].append(example.text)
        for span in example.spans or ():
            by_label[span.label].append(span.text or example.text[span.start:span.end])
    return by_label


def _match_labels(match: CorpusMatch, task: TaskSpec, user_examples: Sequence[Example], embedder,
                  threshold: float) -> None:
    """Fill ``match.labels``: one-to-one best name matches at or above ``threshold`` that the texts confirm.

    The texts confirm a name match when the one-to-one assignment of the name-matched corpus labels' text
    centroids to the task's prototypes that is nearest in total pairs the two the same way. An assignment, not
    each centroid's nearest prototype: mentions sit near every type name at once ("Houston" is a place and a
    team), so only the pairing as a whole tells a corpus whose types are swapped from one that agrees."""
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    by_label = _texts_by_label(match.examples)
    corpus_labels = sorted(by_label)
    task_labels = list(task.labels)
    names = embedder.encode([_name(label) for label in corpus_labels + task_labels])
    similarity = names[: len(corpus_labels)] @ names[len(corpus_labels):].T
    by_name = {}
    for i in range(len(corpus_labels)):
        j = int(np.argmax(similarity[i]))
        if similarity[i, j] >= threshold and int(np.argmax(similarity[:, j])) == i:
            by_name[i] = j
    if not by_name:
        return
    prototypes = _prototypes(task_labels, names[len(corpus_labels):], user_examples, embedder)
    rows = sorted(by_name)
    centroids = np.stack([
        embedder.encode(sorted(by_label[corpus_labels[i]], key=_digest)[:MAX_TEXTS_PER_LABEL]).mean(axis=0)
        for i in rows
    ])
    assigned_rows, assigned_cols = linear_sum_assignment(centroids @ prototypes.T, maximize=True)
    by_text = {rows[r]: int(c) for r, c in zip(assigned_rows, assigned_cols)}
    for i, j in by_name.items():
        if by_text.get(i) == j:  # else the names agree but the texts are about another label
            match.labels[corpus_labels[i]] = task_labels[j]
            match.similarity[corpus_labels[i]] = round(float(similarity[i, j]), 3)


def _prototypes(labels: Sequence[str], name_vectors, user_examples: Sequence[Example], embedder):
    """Per task label, the unit centroid of the user's examples of it when every label has some, else its name's
    embedding (one kind for all: a text centroid sits nearer other texts than any name does)."""
    import numpy as np

    texts = _texts_by_label(user_examples)
    groups = [texts.get(label, []) for label in labels]
    if not all(groups):
        return np.asarray(name_vectors)
    centroids = np.stack([embedder.encode(texts).mean(axis=0) for texts in groups])
    return centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-9)


def _name(label: str) -> str:
    name = label.replace("_", " ").replace("-", " ").strip()
    return NER_ABBREVIATIONS.get(name.lower(), name)
