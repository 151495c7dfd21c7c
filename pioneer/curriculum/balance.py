"""Label balance: no label more than ``ratio`` times as frequent as another in the curriculum.

A curriculum that is mostly one label teaches a prior ("answer transfer") as much as a boundary. Balance is
restored by adding replay examples of the rarest label first, then by dropping the commonest label's least
valuable items (replay, then hard negatives, then augmented), and only as a last resort gold: then whichever
label's gold costs fewer examples (a lone correction of a rare label before most of a pattern's gold).

>>> from pioneer.training import Example
>>> items = [("gold", Example(id=f"g{i}", text="x", label="a")) for i in range(7)]
>>> items += [("hard_negative", Example(id="h", text="y", label="b"))]
>>> pool = [Example(id=f"r{i}", text="z", label="b") for i in range(5)]
>>> kept, added, dropped = balance(items, pool, ratio=3.0)
>>> sorted(Counter(e.label for _, e in kept).items()), added, dropped
([('a', 7), ('b', 3)], 2, 0)
>>> lone = [("gold", Example(id=f"t{i}", text="x", label="transfer")) for i in range(9)]
>>> lone += [("gold", Example(id="c", text="y", label="card_lost"))]   # nothing to top card_lost up with
>>> kept, added, dropped = balance(lone, [], ratio=3.0)   # one gold lost, not six
>>> sorted(Counter(e.label for _, e in kept).items()), dropped
([('transfer', 9)], 1)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pioneer.training.base import Example

_DROP_ORDER = ("replay", "hard_negative", "augmented", "gold")


def labels_of(example: Example) -> list[str]:
    """What an example counts towards: its label, or its entity types; generation targets count for nothing."""
    if example.label is not None:
        return [example.label]
    if example.spans is not None:
        return sorted({span.label for span in example.spans}) or ["(none)"]
    return []


def label_ratio(examples: Sequence[Example]) -> float | None:
    """Count of the commonest label over the rarest (None with fewer than two labels)."""
    counts = Counter(label for e in examples for label in labels_of(e))
    if len(counts) < 2:
        return None
    return max(counts.values()) / min(counts.values())


def balance(
    items: Sequence[tuple[str, Example]], pool: Sequence[Example], *, ratio: float = 3.0
) -> tuple[list[tuple[str, Example]], int, int]:
    """Balance ``(role, example)`` items, topping up from ``pool`` as ``replay``; returns (items, added, dropped)."""
    kept = list(items)
    used = {e.id for _, e in kept}
    by_label: dict[str, list[Example]] = {}
    for example in pool:
        for label in labels_of(example):
            by_label.setdefault(label, []).append(example)
    added = dropped = 0
    for _ in range(10 * (len(kept) + len(pool)) + 10):
        counts = Counter(label for _, e in kept for label in labels_of(e))
        if len(counts) < 2:
            break
        low = min(counts, key=lambda k: (counts[k], k))
        high = max(counts, key=lambda k: (counts[k], k))
        if counts[high] <= ratio * counts[low]:
            break
        top_up = next((e for e in by_label.get(low, []) if e.id not in used), None)
        if top_up is not None:
            kept.append(("replay", top_up))
            used.add(top_up.id)
            added += 1
            continue
        victim = _victim(kept, high, _DROP_ORDER[:-1])
        if victim is None:
            victim = _victim(kept, low, _DROP_ORDER[:-1])
        if victim is None:
            # Only gold is left to drop: lose as few gold examples as possible. Dropping the rare label's gold
            # (a lone correction that cannot be topped up) can cost one example where keeping it would cost
            # most of a pattern's gold (``counts[high] - ratio * counts[low]`` of them).
            keep_high = counts[low] < counts[high] - ratio * counts[low]
            victim = _victim(kept, low if keep_high else high, ("gold",))
        if victim is None:
            break
        kept.pop(victim)
        dropped += 1
    return kept, added, dropped


def _victim(items: list[tuple[str, Example]], label: str, roles: Sequence[str]) -> int | None:
    """Index of the last item with ``label`` whose role comes first in ``roles``."""
    for role in roles:
        for i in range(len(items) - 1, -1, -1):
            if items[i][0] == role and label in labels_of(items[i][1]):
                return i
    return None
