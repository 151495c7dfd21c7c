"""Curation of acquired data into training pools: deduplication, evaluation-set exclusion, length matching,
label balance, and (a data-mix option of the search) dropping teacher labels that the rest of the data disputes:
a cross-fitted model for classification, the mention lexicon for entity extraction.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from statistics import median

from pioneer.coldstart.evalset import EvalSet
from pioneer.coldstart.sources import Sourced, machine_labelled, text_key, trust

NEAR_DUPLICATE = 0.8
"""Word-set Jaccard similarity at or above which a training text counts as a copy of an evaluation text."""


def dedupe(items: Sequence[Sourced]) -> list[Sourced]:
    """One example per text, the most trusted one (ties: the first acquired)."""
    best: dict[str, Sourced] = {}
    for item in items:
        key = text_key(item.example.text)
        if key not in best or trust(item.source) < trust(best[key].source):
            best[key] = item
    return list(best.values())


def exclude_evaluation(items: Sequence[Sourced], eval_set: EvalSet, *, threshold: float = NEAR_DUPLICATE) -> list[Sourced]:
    """``items`` minus the evaluation set's examples, their texts and their near-duplicates.

    Word-set Jaccard over an inverted index rather than embeddings: it needs no encoder pass and catches the
    copies that matter (the same request with a word changed).
    """
    eval_ids = {i.example.id for i in eval_set.items}
    eval_words = [set(text_key(i.example.text).split()) for i in eval_set.items]
    index: dict[str, list[int]] = defaultdict(list)
    for n, words in enumerate(eval_words):
        for word in words:
            index[word].append(n)
    kept = []
    for item in items:
        if item.example.id in eval_ids:
            continue
        words = set(text_key(item.example.text).split())
        shared = Counter(n for word in words for n in index.get(word, ()))
        if any(k / len(words | eval_words[n]) >= threshold for n, k in shared.items()):
            continue
        kept.append(item)
    return kept


def match_length(items: Sequence[Sourced], reference: Sequence[Sourced]) -> list[Sourced]:
    """Drop texts far outside the reference's length range (under half its shortest, over twice its longest)."""
    lengths = [len(i.example.text.split()) for i in reference]
    if not lengths:
        return list(items)
    low, high = min(lengths) / 2, max(lengths) * 2
    return [i for i in items if low <= len(i.example.text.split()) <= high]


def balance(items: Sequence[Sourced], *, ratio: float = 1.5) -> list[Sourced]:
    """Cap each label at ``ratio`` × the median label count, dropping the least trusted first."""
    by_label: dict[str, list[Sourced]] = defaultdict(list)
    for item in items:
        by_label[str(item.example.label)].append(item)
    if not by_label:
        return []
    cap = max(1, int(ratio * median(len(v) for v in by_label.values())))
    kept: list[Sourced] = []
    for group in by_label.values():
        kept += sorted(group, key=lambda i: (trust(i.source), _order(i)))[:cap]
    return kept


def _order(item: Sourced) -> str:
    return hashlib.sha256(item.example.id.encode()).hexdigest()


def disputed_teacher_labels(items: Sequence[Sourced], kind: str) -> set[str]:
    """Ids of the teacher labels the rest of the data disputes, for a task of ``kind`` (none for generation)."""
    if kind == "classification":
        return disputed_labels(items)
    if kind == "entity_extraction":
        return disputed_spans(items)
    return set()


def disputed_labels(items: Sequence[Sourced], *, config: object = None, folds: int = 4, margin: float = 0.2) -> set[str]:
    """Ids of teacher-labelled examples whose label a model trained on the other folds disputes.

    Quality-focused curation (confident learning): each fold is predicted by a frozen-encoder head fitted on
    the rest; a teacher label is disputed when the predicted label beats it by ``margin`` in probability.
    User and corpus labels are never disputed.
    """
    from pioneer.training import ClassificationAdapter, ClassificationConfig

    cfg = config if isinstance(config, ClassificationConfig) else ClassificationConfig(strategy="head", progress_bar=False)
    parts: list[list[Sourced]] = [[] for _ in range(folds)]
    for item in items:
        parts[int(_order(item), 16) % folds].append(item)
    disputed: set[str] = set()
    for k, held in enumerate(parts):
        suspects = [i for i in held if machine_labelled(i.source)]
        rest = [i.example for j, part in enumerate(parts) if j != k for i in part]
        if not suspects or len({e.label for e in rest}) < 2:
            continue
        adapter = ClassificationAdapter(cfg).fit(rest)
        probabilities = adapter.predict_proba([i.example.text for i in suspects], use_cache=True)
        labels = adapter.labels_ or []
        for item, row in zip(suspects, probabilities, strict=True):
            given = row[labels.index(item.example.label)] if item.example.label in labels else 0.0
            if float(row.max()) - float(given) >= margin:
                disputed.add(item.example.id)
    return disputed


def disputed_spans(items: Sequence[Sourced], *, min_count: int = 3, majority: float = 0.7) -> set[str]:
    """Ids of teacher-labelled entity examples that disagree with how the rest of the data tags a mention.

    Quality-focused curation for entity extraction, with no model to train: a mention seen at least
    ``min_count`` times is settled when one reading (a given type, or untagged) holds ``majority`` of its
    occurrences; a teacher answer that reads a settled mention otherwise (another type, or leaves it untagged
    where it is usually tagged) is disputed. User and corpus examples are never disputed, and count twice.
    """
    readings: dict[str, Counter[str]] = defaultdict(Counter)
    per_item: list[tuple[Sourced, dict[str, set[str]]]] = []
    lexicon = {text_key(item.example.text[s.start : s.end]) for item in items for s in item.example.spans or ()}
    lexicon.discard("")
    for item in items:
        seen = _readings(item.example, lexicon)
        per_item.append((item, seen))
        weight = 1 if machine_labelled(item.source) else 2
        for mention, kinds in seen.items():
            for kind in kinds:
                readings[mention][kind] += weight
    settled: dict[str, str] = {}
    for mention, counts in readings.items():
        reading, top = counts.most_common(1)[0]
        if sum(counts.values()) >= min_count and top / sum(counts.values()) >= majority:
            settled[mention] = reading
    return {
        item.example.id for item, seen in per_item
        if machine_labelled(item.source)
        and any(mention in settled and settled[mention] not in kinds for mention, kinds in seen.items())
    }


def _readings(example, lexicon: set[str]) -> dict[str, set[str]]:
    """Each known mention in ``example``: the types it is tagged with there, or ``""`` where it is untagged."""
    tagged: dict[str, set[str]] = defaultdict(set)
    covered: list[tuple[int, int]] = []
    for span in example.spans or ():
        tagged[text_key(example.text[span.start : span.end])].add(span.label)
        covered.append((span.start, span.end))
    words = [(m.start(), m.end()) for m in re.finditer(r"\w+", example.text)]
    for i in range(len(words)):
        for j in range(i, min(i + 4, len(words))):  # mentions of up to four words
            start, end = words[i][0], words[j][1]
            key = text_key(example.text[start:end])
            if key in lexicon and key not in tagged and not any(a < end and start < b for a, b in covered):
                tagged[key].add("")
    return tagged
