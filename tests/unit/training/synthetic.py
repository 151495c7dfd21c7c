"""Tiny synthetic tasks the adapter tests really train on (seconds each on a CPU).

Synthetic so the suite needs nothing outside the project; the loaders are tested on the real files separately.
Each generator is seeded and returns disjoint train/test examples with stable ids.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from pioneer.events import Span
from pioneer.training.base import Example

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

INTENTS = {
    "weather": ["what's the weather in {c}", "will it rain in {c} today", "is it cold in {c}", "forecast for {c} please"],
    "music": ["play some {g} music", "put on a {g} playlist", "i want to hear {g}", "start the {g} radio"],
    "alarm": ["wake me up at {t}", "set an alarm for {t}", "alarm at {t} please", "remind me at {t} to get up"],
    "transfer": ["send {n} dollars to {p}", "transfer {n} to {p}", "move {n} dollars to {p}'s account", "pay {p} {n} dollars"],
}
FILL = {
    "c": ["paris", "boston", "tokyo", "lima", "oslo", "cairo"],
    "g": ["jazz", "rock", "folk", "techno", "blues", "pop"],
    "t": ["6 am", "seven", "5:30", "noon", "8 pm", "9"],
    "n": ["20", "fifty", "100", "35", "12", "ten"],
    "p": ["anna", "bob", "mia", "leo", "sam", "eve"],
}


def _fill(template: str, rng: random.Random) -> str:
    return template.format(**{k: rng.choice(v) for k, v in FILL.items()})


def intent_data(per_label: int, *, seed: int, split: str) -> list[Example]:
    rng = random.Random(f"{seed}-{split}")
    examples: list[Example] = []
    for label, templates in INTENTS.items():
        for i in range(per_label):
            examples.append(Example(text=_fill(templates[i % len(templates)], rng), label=label, id=f"{split}:{label}:{i}"))
    return examples


NAMES = ["Anna", "Boris", "Chen", "Dana", "Emil", "Farah", "Goran", "Hana"]
CITIES = ["Paris", "Oslo", "Lima", "Cairo", "Quito", "Hanoi", "Dakar", "Perth"]
ENTITY_TEMPLATES = [
    "{PER} flew to {LOC} on Monday .",
    "Yesterday {PER} met reporters in {LOC} .",
    "The mayor of {LOC} thanked {PER} .",
    "{PER} said prices in {LOC} rose .",
    "Officials in {LOC} said nothing .",
    "Talks ended without agreement .",
]


def entity_data(n: int, *, seed: int, split: str) -> list[Example]:
    """Sentences with PER and LOC entities (capitalised, as news text has them), some with none."""
    rng = random.Random(f"{seed}-{split}")
    examples = []
    for i in range(n):
        template = ENTITY_TEMPLATES[i % len(ENTITY_TEMPLATES)]
        text, spans, rest = "", [], template
        while "{" in rest:
            before, _, after = rest.partition("{")
            kind, _, rest = after.partition("}")
            text += before
            value = rng.choice(NAMES if kind == "PER" else CITIES)
            spans.append(Span(start=len(text), end=len(text) + len(value), label=kind, text=value))
            text += value
        text += rest
        examples.append(Example(text=text, spans=tuple(spans), id=f"{split}:ner:{i}"))
    return examples


def arithmetic_data(n: int, *, seed: int, split: str) -> list[Example]:
    rng = random.Random(f"{seed}-{split}")
    examples = []
    for i in range(n):
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        examples.append(Example(text=f"What is {a} plus {b}?", target=f"The answer is {a + b}.", id=f"{split}:add:{i}"))
    return examples


def saved_files(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}


def assert_no_pickles(directory: Path) -> None:
    bad = [p for p in saved_files(directory) if p.endswith((".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt"))]
    assert not bad, f"pickled files written: {bad}"
