"""BIO tags over words ↔ labelled character spans.

Files store entities as BIO tags per token; models, events and metrics use character spans. These two
functions convert between them given each word's ``(start, end)`` character offsets. Decoding follows the
CoNLL ``conlleval`` convention (also seqeval's default): an ``I-X`` that does not continue an ``X`` entity
starts a new one, so IOB1 files and sloppy model output both decode sensibly.

>>> text = "Peter Blackburn visited Paris"
>>> offsets = [(0, 5), (6, 15), (16, 23), (24, 29)]
>>> [(s.start, s.end, s.label) for s in tags_to_spans(["B-PER", "I-PER", "O", "B-LOC"], offsets, text)]
[(0, 15, 'PER'), (24, 29, 'LOC')]
>>> spans_to_tags(tags_to_spans(["B-PER", "I-PER", "O", "I-LOC"], offsets, text), offsets)
['B-PER', 'I-PER', 'O', 'B-LOC']
"""

from __future__ import annotations

from collections.abc import Sequence

from pioneer.events import Span

OUTSIDE = "O"


def split_tag(tag: str) -> tuple[str, str | None]:
    """``"B-PER"`` → ``("B", "PER")``; ``"O"`` → ``("O", None)``. Accepts ``B_``/``I_`` and ``E-``/``S-`` too
    (``E`` is read as ``I`` and ``S`` as ``B``, so BIOES files load as BIO)."""
    if tag in ("O", "", "-"):
        return OUTSIDE, None
    if len(tag) > 2 and tag[1] in "-_" and tag[0] in "BIES":
        prefix = {"B": "B", "I": "I", "E": "I", "S": "B"}[tag[0]]
        return prefix, tag[2:]
    raise ValueError(f"tag {tag!r} is not BIO; expected O, B-<type> or I-<type>.")


def tags_to_spans(tags: Sequence[str], offsets: Sequence[tuple[int, int]], text: str | None = None) -> list[Span]:
    """Spans of the entities that ``tags`` mark over words at ``offsets`` (``text`` fills ``Span.text``)."""
    if len(tags) != len(offsets):
        raise ValueError(f"{len(tags)} tags for {len(offsets)} words; pass one tag per word.")
    spans: list[Span] = []
    current: tuple[int, int, str] | None = None
    for tag, (start, end) in zip(tags, offsets, strict=True):
        prefix, label = split_tag(tag)
        if prefix == "I" and current is not None and current[2] == label:
            current = (current[0], end, label)
            continue
        if current is not None:
            spans.append(_span(current, text))
            current = None
        if prefix != OUTSIDE and label is not None:
            current = (start, end, label)
    if current is not None:
        spans.append(_span(current, text))
    return spans


def _span(key: tuple[int, int, str], text: str | None) -> Span:
    start, end, label = key
    return Span(start=start, end=end, label=label, text=None if text is None else text[start:end])


def spans_to_tags(spans: Sequence[Span], offsets: Sequence[tuple[int, int]]) -> list[str]:
    """One BIO tag per word: a word overlapping a span gets its type, ``B`` on the span's first such word.

    A word that overlaps two spans goes to the one that starts first (spans in text are not expected to
    overlap; when they do, the later one loses the shared words).
    """
    tags = [OUTSIDE] * len(offsets)
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        first = True
        for i, (start, end) in enumerate(offsets):
            if end <= span.start or start >= span.end or end <= start:
                continue
            if tags[i] != OUTSIDE:
                first = False
                continue
            tags[i] = f"{'B' if first else 'I'}-{span.label}"
            first = False
    return tags
