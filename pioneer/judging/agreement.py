"""How often the judge agrees with people, on the requests both have labelled.

The judge worker records each verdict it gives and each human outcome it reads (from labeled traces); a
request counts once, as soon as both are known, in whichever order they came. Both memories are bounded
(oldest forgotten first), so a pair further apart than ``capacity`` requests is not counted.

>>> tracker = AgreementTracker(capacity=100)
>>> tracker.judged("r1", "m", "j", "fail"), tracker.human("r1", "m", "fail")
(None, ('m', 'j', True))
>>> tracker.human("r2", "m", "pass"), tracker.judged("r2", "m", "j", "fail")
(None, ('m', 'j', False))
>>> tracker.human("r2", "m", "pass") is None   # counted once
True
>>> tracker.rate("m", "j")
0.5
"""

from __future__ import annotations

from collections import OrderedDict

Pair = tuple[str, str, bool]
"""(model, judge, agreed) of one request both labelled."""


class AgreementTracker:
    """Counts judge/human agreement per (model, judge).

    Parameters
    ----------
    capacity
        Requests remembered on each side at most, waiting for the other side.
    """

    def __init__(self, *, capacity: int = 200_000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._judged: OrderedDict[str, tuple[str, str, str]] = OrderedDict()
        self._human: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._counted: OrderedDict[str, None] = OrderedDict()
        self.pairs: dict[tuple[str, str], list[int]] = {}
        """(model, judge) -> [agreed, pairs]."""

    def judged(self, request_id: str, model: str, judge: str, verdict: str) -> Pair | None:
        """Record the judge's verdict on a request; the pair it completes, if any."""
        human = self._human.get(request_id)
        if human is None:
            _remember(self._judged, request_id, (model, judge, verdict), self.capacity)
            return None
        return self._count(request_id, model, judge, verdict == human[1])

    def human(self, request_id: str, model: str, outcome: str) -> Pair | None:
        """Record a human label's outcome (pass/fail) on a request; the pair it completes, if any."""
        judged = self._judged.get(request_id)
        _remember(self._human, request_id, (model, outcome), self.capacity)
        if judged is None:
            return None
        return self._count(request_id, judged[0], judged[1], judged[2] == outcome)

    def _count(self, request_id: str, model: str, judge: str, agreed: bool) -> Pair | None:
        if request_id in self._counted:
            return None
        _remember(self._counted, request_id, None, self.capacity)
        counts = self.pairs.setdefault((model, judge), [0, 0])
        counts[0] += agreed
        counts[1] += 1
        return model, judge, agreed

    def rate(self, model: str, judge: str) -> float | None:
        """Share of pairs where the judge agreed with people; None before the first pair."""
        agreed, total = self.pairs.get((model, judge), (0, 0))
        return agreed / total if total else None


def _remember(memory: OrderedDict, key: str, value: object, capacity: int) -> None:
    memory[key] = value
    memory.move_to_end(key)
    while len(memory) > capacity:
        memory.popitem(last=False)
