"""Noise edits keep the ground truth exact: spans move with the text and are never edited."""

from __future__ import annotations

import random

import pytest

from pioneer.bench import noise
from pioneer.diagnosis import AdversarialDetector
from pioneer.events import Span
from pioneer.training import Example


def _example() -> Example:
    text = "Yesterday Angela Merkel visited Paris with delegates"
    spans = (Span(start=10, end=23, label="PER", text="Angela Merkel"), Span(start=32, end=37, label="LOC", text="Paris"))
    return Example(id="x", text=text, spans=spans)


def _spans_intact(example: Example, original: Example) -> None:
    assert [example.text[s.start : s.end] for s in example.spans] == [s.text for s in original.spans[: len(example.spans)]]


def test_replace_text_moves_later_spans_and_refuses_overlaps() -> None:
    ex = _example()
    edited = noise.replace_text(ex, 0, 9, "Today")
    assert edited.text.startswith("Today Angela")
    _spans_intact(edited, ex)
    with pytest.raises(ValueError, match="overlaps"):
        noise.replace_text(ex, 12, 20, "x")


@pytest.mark.parametrize("seed", range(20))
def test_typos_never_touch_entities(seed: int) -> None:
    ex = _example()
    typoed = noise.add_typos(ex, random.Random(seed), n=3)
    assert typoed.text != ex.text
    _spans_intact(typoed, ex)


@pytest.mark.parametrize("seed", range(20))
def test_truncation_cuts_at_word_boundaries_and_drops_spans_past_the_cut(seed: int) -> None:
    ex = _example()
    cut = noise.truncate(ex, random.Random(seed))
    if cut is None:
        return
    assert ex.text.startswith(cut.text) and len(cut.text) < len(ex.text)
    assert all(s.end <= len(cut.text) for s in cut.spans)
    _spans_intact(cut, ex)


def test_prepend_append_and_lowercase_keep_answers() -> None:
    ex = _example()
    moved = noise.append(noise.prepend(ex, "Hi! "), "Thanks.")
    _spans_intact(moved, ex)
    lower = noise.lowercase(ex)
    assert lower.text == ex.text.lower() and [lower.text[s.start : s.end] for s in lower.spans] == ["angela merkel", "paris"]


def test_most_attacks_match_the_adversarial_rules_but_not_all() -> None:
    detector = AdversarialDetector()
    injections = [rule.format(target="x") for rule in noise.INJECTIONS]
    jailbreaks = list(noise.JAILBREAKS)
    caught = [detector.match(t) is not None for t in injections + jailbreaks]
    # The generator deliberately includes phrasings no rule catches, so recall is measured, not assumed.
    assert 0 < sum(caught) < len(caught)
