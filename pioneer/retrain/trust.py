"""How far the trainer trusts a model's labels, from their sources: the evidence behind two of its choices.

Labels from people (``source="human"``) are taken as right; a judge's or a rule's may be wrong. A judge's labels
count as trusted in proportion to how surely the judge agrees with people: where both labelled the same
requests, each judge label weighs the Wilson lower bound (95%) of that agreement (no common request: weight 0,
untrusted). A judge that agreed on 97 of 100 requests makes its labels weigh 0.93; one that agreed on 3 of 3
only 0.53, however perfect it looked. When a version's labelled traffic is surely (Wilson lower bound at 95%)
almost all trusted, its live accuracy is what its users see, so it decides production's band (a gate set holds
back passing traffic and reads high); and every fixable failure it makes is training material, not only those
in a detected pattern. Otherwise the gate set decides and only a weak model (below the data band) trains beyond
its patterns.

>>> LabelTrust(traces=400, passes=300, trusted=400).trusted_enough
True
>>> LabelTrust(traces=400, passes=300, trusted=300).trusted_enough
False
>>> LabelTrust(traces=5, passes=5, trusted=5).trusted_enough   # too few labels to say
False
>>> judged = LabelTrust(traces=400, passes=300, trusted=100, judged=300, agreed=970, pairs=1000)
>>> round(judged.judge_weight, 3), judged.trusted_enough
(0.96, True)
>>> LabelTrust(traces=400, passes=300, trusted=100, judged=300, agreed=3, pairs=3).trusted_enough
False
"""

from __future__ import annotations

from dataclasses import dataclass

from pioneer.retrain.recipes import DATA_BAND_BELOW
from pioneer.traces.store import TraceStore
from pioneer.trigger.rates import wilson_lower, z_score

TRUSTED_SOURCES = ("human",)
JUDGED_SOURCES = ("judge",)
"""Sources trusted as far as their measured agreement with :data:`TRUSTED_SOURCES` allows."""
TRUSTED_SHARE = 0.9
"""Share of trusted labels (lower bound) at which a version's live accuracy is read as its score."""
CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True)
class LabelTrust:
    """Labelled traces of one version: how many, how many it answered right, how many a trusted source labelled."""

    traces: int
    passes: int
    trusted: int
    judged: int = 0
    """Labels from :data:`JUDGED_SOURCES`."""
    agreed: int = 0
    pairs: int = 0
    """Requests of the model both a judge and a person labelled, and how many of them got the same outcome."""

    @property
    def judge_weight(self) -> float:
        """How much one judge label counts as trusted: the agreement's lower bound (0 without evidence)."""
        return wilson_lower(self.agreed, self.pairs, z_score(CONFIDENCE)) if self.pairs else 0.0

    @property
    def effective_trusted(self) -> float:
        return self.trusted + self.judge_weight * self.judged

    @property
    def share(self) -> float:
        return self.effective_trusted / self.traces if self.traces else 0.0

    @property
    def trusted_enough(self) -> bool:
        return wilson_lower(self.effective_trusted, self.traces, z_score(CONFIDENCE)) >= TRUSTED_SHARE

    def describe(self) -> str:
        verdict = "trusted" if self.trusted_enough else "not trusted enough"
        judged = ""
        if self.judged:
            judged = (f" + {self.judged} judge labels at weight {self.judge_weight:.2f} (agreed with people on "
                      f"{self.agreed} of {self.pairs})")
        return (f"{self.trusted} of {self.traces} labels from {'/'.join(TRUSTED_SOURCES)}{judged} ({self.share:.1%} "
                f"trusted): {verdict} (needs a {CONFIDENCE:.0%} lower bound >= {TRUSTED_SHARE:.0%})")


def label_trust(traces: TraceStore, model: str, version: str) -> LabelTrust:
    """The trust evidence of ``version``'s labelled traffic; the judges' agreement is measured over the whole
    model (a judge is as reliable on one version's answers as on another's)."""
    agreed = pairs = 0
    for source in JUDGED_SOURCES:
        for reference in TRUSTED_SOURCES:
            a, n = traces.agreement(model=model, source=source, reference=reference)
            agreed, pairs = agreed + a, pairs + n
    return LabelTrust(
        traces=traces.count(model=model, version=version),
        passes=traces.count(model=model, version=version, outcome="pass"),
        trusted=sum(traces.count(model=model, version=version, source=s) for s in TRUSTED_SOURCES),
        judged=sum(traces.count(model=model, version=version, source=s) for s in JUDGED_SOURCES),
        agreed=agreed,
        pairs=pairs,
    )


@dataclass(frozen=True, slots=True)
class BandChoice:
    """Production's score source and the coverage threshold for one request, with the evidence behind them."""

    live: float | None
    """Production's live accuracy when it picks the band (None: its gate-set score does)."""
    coverage_below: float
    evidence: str


def choose_band(trust: LabelTrust, *, band_score: str, coverage_below: float | None,
                min_live_traces: int) -> BandChoice:
    """Read the band from live accuracy when asked to, or (``"auto"``) when the labels are trusted; train beyond
    the patterns at any score when they are (``coverage_below`` None), below the data band otherwise.

    >>> c = choose_band(LabelTrust(500, 400, 500), band_score="auto", coverage_below=None, min_live_traces=200)
    >>> c.live, c.coverage_below
    (0.8, 1.0)
    >>> c = choose_band(LabelTrust(500, 400, 100), band_score="auto", coverage_below=None, min_live_traces=200)
    >>> c.live, c.coverage_below
    (None, 0.8)
    """
    live_wanted = band_score == "live" or (band_score == "auto" and trust.trusted_enough)
    live = trust.passes / trust.traces if live_wanted and trust.traces >= min_live_traces else None
    if coverage_below is None:
        coverage_below = 1.0 if trust.trusted_enough else DATA_BAND_BELOW
    score = f"live accuracy {live:.3f}" if live is not None else "gate-set score"
    return BandChoice(live=live, coverage_below=coverage_below,
                      evidence=f"{trust.describe()}; band from {score}; coverage below {coverage_below:.2f}")
