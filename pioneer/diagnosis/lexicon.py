"""``SpanLexicon``: what the trusted data says about a surface form, for judging entity corrections.

An entity correction is judged where it differs from the model's answer, and each difference claims something
about a piece of text: "this is a PER" (a span's type changed, or a span added) or "this is no entity" (a span
the model found, removed). The trusted data (what production learned from, and its confirmed traffic) votes on
the claim with every occurrence of the same text: an occurrence labelled as an entity votes for its type, one
outside every entity votes for :data:`OUTSIDE`, one inside a longer entity does not vote.

A text without letters (a bare number, a date in digits) gets no votes: what it is depends on its context, not
on its characters ("4" is a party size in "a table for 4" and a rating in "higher than 4"). A text seen fewer
than ``min_count`` times is voted by its *shape* instead (any number reads as ``0``): "4 people" and "12 people"
are one form, so a party size relabelled as a time is judged by every party size the trusted data holds.

>>> from pioneer.events import Span
>>> lexicon = SpanLexicon(
...     ["table for 4 people", "table for 2 people at 7pm", "the table by the window"],
...     [[Span(start=10, end=18, label="people")], [Span(start=10, end=18, label="people"),
...       Span(start=22, end=25, label="time")], []],
...     min_count=3,
... )
>>> dict(lexicon.counts("6 people")), dict(lexicon.counts("table")), dict(lexicon.counts("4"))
({'people': 2}, {'O': 3}, {})
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from pioneer.events import Span

OUTSIDE = "O"
"""The vote of an occurrence outside every entity."""

_NUMBER = re.compile(r"\d+")


def shape(text: str) -> str:
    """``text`` with every number read as ``0``.

    >>> shape("7:30 pm for 12")
    '0:0 pm for 0'
    """
    return _NUMBER.sub("0", text)


def _pattern(key: str, *, shaped: bool) -> re.Pattern[str]:
    """``key`` as a whole-word pattern; shaped, any number matches its numbers."""
    if shaped:
        body = r"\d+".join(re.escape(part) for part in _NUMBER.split(key))
    else:
        body = re.escape(key)
    return re.compile(rf"(?<!\w){body}(?!\w)")


def _folded(text: str) -> str:
    # Case-insensitive matching without moving offsets: a few characters change length when case-folded.
    folded = text.casefold()
    return folded if len(folded) == len(text) else text


class SpanLexicon:
    """Occurrence counts of surface forms in trusted, labelled texts. See the module docstring.

    Parameters
    ----------
    texts, spans
        The trusted inputs and the entity spans of each.
    min_count
        Occurrences a form needs to be voted as itself; rarer forms with digits are voted by their shape.
    """

    def __init__(self, texts: Sequence[str], spans: Sequence[Sequence[Span]], *, min_count: int = 3) -> None:
        if len(texts) != len(spans):
            raise ValueError(f"{len(texts)} texts but {len(spans)} span lists")
        self.min_count = min_count
        self._texts = [_folded(t) for t in texts]
        self._shapes = [shape(t) for t in self._texts]
        self._extents = [[(s.start, s.end, s.label) for s in row] for row in spans]
        self._cache: dict[tuple[str, bool], Counter[str]] = {}

    def __repr__(self) -> str:
        return f"SpanLexicon(texts={len(self._texts)}, min_count={self.min_count})"

    def counts(self, surface: str) -> Counter[str]:
        """Votes of the trusted occurrences of ``surface`` (by its shape when it is rare and holds digits; none
        when it has no letters)."""
        key = _folded(surface.strip())
        if not any(ch.isalpha() for ch in key):
            return Counter()
        exact = self._count(key, shaped=False)
        if sum(exact.values()) >= self.min_count or not _NUMBER.search(key):
            return exact
        return self._count(key, shaped=True)

    def _count(self, key: str, *, shaped: bool) -> Counter[str]:
        cached = self._cache.get((key, shaped))
        if cached is not None:
            return cached
        pattern, needle = _pattern(key, shaped=shaped), shape(key) if shaped else key
        counts: Counter[str] = Counter()
        for text, shaped_text, extents in zip(self._texts, self._shapes, self._extents, strict=True):
            if needle not in (shaped_text if shaped else text):  # a cheap filter before the regex
                continue
            for match in pattern.finditer(text):
                start, end = match.span()
                label = next((lab for s, e, lab in extents if s == start and e == end), None)
                if label is not None:
                    counts[label] += 1
                elif not any(s < end and start < e for s, e, _ in extents):
                    counts[OUTSIDE] += 1
        self._cache[(key, shaped)] = counts
        return counts
