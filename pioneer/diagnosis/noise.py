"""``NeighbourNoiseDetector``: suspect a correction that its near neighbours contradict.

A correction that is right has neighbours (in the trusted training data and in the other labelled traces)
carrying the same answer: a real weak spot is a *region* of inputs, and a pattern is many of them. A
mislabelled trace is isolated: inputs like it carry another answer, usually the one the model gave.

The vote is per class, not per neighbour: each answer scores the mean similarity of its ``per_class`` most
similar examples (missing ones count as 0), and the correction is suspect when its score is below
``max_ratio`` times the best rival's. Counting plain k nearest neighbours would let a big class win by
numbers: a pattern of thirty failures that all say "spending history" would out-vote the five trusted
"transfer" examples around a mislabelled transfer request. A ratio, not a difference, because a genuinely
hard failure still has *some* support for its right answer, while a random mislabel has next to none.

When the deployed model's own scores for the input are known (classification traces carry the top-k label
probabilities), they are a second, out-of-sample opinion, as in confident learning (Northcutt et al.): a
correction the model itself gives more than ``model_max_support`` probability, and at least
``model_min_share`` of what it gives its own answer, is plausible, never noise;
and when the model is confident in its own answer (``min_model_confidence``), neighbours that merely prefer
another answer (score ratio below 1) are enough. A mislabel is typically an input the model answers right
and confidently; a genuine failure one it answers wrongly and hesitantly, so the model's opinion clears most
genuine failures that neighbours alone would flag. The share matters when there are few labels: over a dozen
intents even a wrong label gets a few percent from a model that answers 0.7 for its own, while a real weak
spot's correction gets a fair share of the top answer (docs/benchmarks.md has the figures).

One rule serves every task kind:

- classification: answers are labels;
- generation: answers are normalised targets, and only near-duplicates (``near_duplicate``) vote;
- entity extraction: where the correction differs from the model's answer, each difference is voted by every
  occurrence of the same text in the trusted data (:class:`~pioneer.diagnosis.lexicon.SpanLexicon`: "paris"
  labelled LOC votes LOC, "table" outside every entity votes for no entity), and a span whose text is not at
  its offsets is malformed.

>>> import numpy as np
>>> detector = NeighbourNoiseDetector(per_class=2)
>>> keys = ["a", "a", "b", "b", "b"]
>>> sims = np.array([0.9, 0.8, 0.3, 0.2, 0.1], dtype=np.float32)
>>> detector.vote("a", keys, sims).suspect, detector.vote("b", keys, sims).suspect
(False, True)
>>> detector.vote("b", keys, sims, model_support=0.3).suspect   # the model finds "b" plausible
False
>>> detector.vote("b", keys, sims, model_support=0.05, model_confidence=0.8).suspect   # 5% next to 80%: no veto
True
>>> sims = np.array([0.5, 0.4, 0.4, 0.3, 0.1], dtype=np.float32)  # "b" weaker than "a", but not by much
>>> detector.vote("b", keys, sims).suspect, detector.vote("b", keys, sims, model_confidence=0.9).suspect
(False, True)
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pioneer.base import ParamsMixin, check_number
from pioneer.diagnosis.lexicon import OUTSIDE, SpanLexicon
from pioneer.events import Span


@dataclass(frozen=True, slots=True)
class NoiseVote:
    """The neighbours' verdict on one correction."""

    suspect: bool
    score: float
    """How strongly the neighbours support the given answer (mean top similarity, or vote share for spans)."""
    rival: Hashable
    """The best-supported other answer (None when there is none)."""
    rival_score: float
    voters: int


class NeighbourNoiseDetector(ParamsMixin):
    """Per-class neighbour vote on each correction. See the module docstring.

    Parameters
    ----------
    per_class
        Most similar examples of each answer that score it.
    max_ratio
        A correction scoring below this share of the best rival's score is suspect.
    model_max_support
        A correction the deployed model gives more probability than this is never suspect...
    model_min_share
        ...provided that probability is also at least this share of the model's probability for its own answer
        (when known): a few percent is not support from a model that is 80% sure of something else.
    min_model_confidence
        When the model gives its own answer at least this probability, a correction scoring below its best
        rival (any ratio under 1) is suspect.
    min_voters
        Fewer comparable examples than this: no verdict (too little evidence to call anything noise).
    near_duplicate
        Generation: only neighbours at least this similar vote.
    span_max_support
        Entity extraction: a claim (a type for a text, or "no entity") holding at most this share of the trusted
        occurrences' votes is suspect...
    span_min_majority
        ...if one other answer holds at least this share.
    """

    def __init__(
        self,
        per_class: int = 5,
        max_ratio: float = 0.4,
        model_max_support: float = 0.01,
        model_min_share: float = 0.2,
        min_model_confidence: float = 0.3,
        min_voters: int = 3,
        near_duplicate: float = 0.85,
        span_max_support: float = 0.1,
        span_min_majority: float = 0.5,
    ) -> None:
        check_number("per_class", per_class, 1, integer=True)
        check_number("min_voters", min_voters, 1, integer=True)
        for name, share in (("max_ratio", max_ratio), ("model_max_support", model_max_support),
                            ("model_min_share", model_min_share), ("min_model_confidence", min_model_confidence),
                            ("near_duplicate", near_duplicate), ("span_max_support", span_max_support),
                            ("span_min_majority", span_min_majority)):
            check_number(name, share, 0.0, 1.0)
        self.per_class = per_class
        self.max_ratio = max_ratio
        self.model_max_support = model_max_support
        self.model_min_share = model_min_share
        self.min_model_confidence = min_model_confidence
        self.min_voters = min_voters
        self.near_duplicate = near_duplicate
        self.span_max_support = span_max_support
        self.span_min_majority = span_min_majority

    @staticmethod
    def groups(pool_keys: Sequence[Hashable]) -> dict[Hashable, np.ndarray]:
        """Pool indices per answer (computed once per pool, passed to every :meth:`vote`)."""
        found: dict[Hashable, list[int]] = {}
        for i, key in enumerate(pool_keys):
            if key is not None:
                found.setdefault(key, []).append(i)
        return {key: np.asarray(idx, dtype=np.int64) for key, idx in found.items()}

    def vote(
        self,
        given: Hashable,
        pool_keys: Sequence[Hashable],
        sims: np.ndarray,
        *,
        exclude: Sequence[int] | int = (),
        min_similarity: float | None = None,
        groups: Mapping[Hashable, np.ndarray] | None = None,
        model_support: float | None = None,
        model_confidence: float | None = None,
    ) -> NoiseVote:
        """Score every answer in the pool by its most similar examples and compare ``given`` with the best rival.

        ``sims`` holds the query's similarity to every pool item; ``exclude`` drops items (the query itself);
        ``min_similarity`` drops weaker voters (generation's near-duplicate rule); ``model_support`` is the
        deployed model's probability for ``given`` and ``model_confidence`` its probability for its own answer,
        when known.
        """
        sims = np.asarray(sims, dtype=np.float32).copy()
        excluded = [exclude] if isinstance(exclude, int) else list(exclude)
        if excluded:
            sims[np.asarray(excluded, dtype=np.int64)] = -np.inf
        if min_similarity is not None:
            sims[sims < min_similarity] = -np.inf
        scores: dict[Hashable, float] = {}
        voters = 0
        for key, idx in (groups if groups is not None else self.groups(pool_keys)).items():
            values = sims[idx]
            values = values[np.isfinite(values)]
            if values.size == 0:
                continue
            voters += int(values.size)
            top = np.sort(values)[-self.per_class :]
            scores[key] = float(np.clip(top, 0.0, None).sum()) / self.per_class
        own = scores.get(given, 0.0)
        rivals = [(score, key) for key, score in scores.items() if key != given]
        if voters < self.min_voters or not rivals:
            return NoiseVote(suspect=False, score=own, rival=None, rival_score=0.0, voters=voters)
        rival_score, rival = max(rivals, key=lambda item: (item[0], str(item[1])))
        confident = model_confidence is not None and model_confidence >= self.min_model_confidence
        suspect = rival_score > 0.0 and own < (1.0 if confident else self.max_ratio) * rival_score
        if model_support is not None and model_support > self.model_max_support:
            share = 1.0 if not model_confidence else model_support / model_confidence
            if share >= self.model_min_share:
                suspect = False
        return NoiseVote(suspect=suspect, score=own, rival=rival, rival_score=rival_score, voters=voters)

    def vote_spans(
        self, text: str, spans: Sequence[Span], lexicon: SpanLexicon, predicted: Sequence[Span] | None = None
    ) -> NoiseVote:
        """Entity extraction: each claim the correction makes against the model's answer, voted by the trusted data.

        With the model's ``predicted`` spans, the claims are the differences: a correction span the model did not
        give claims its type for its text, and a predicted span the correction drops (nothing overlaps it) claims
        its text is no entity (:data:`~pioneer.diagnosis.lexicon.OUTSIDE`); spans both agree on are not voted.
        Without it every correction span is a claim. ``lexicon`` holds the *trusted* data only: traces under
        diagnosis do not vote, or a batch of consistent mislabels would vote for itself. A text the trusted
        data holds fewer than ``min_voters`` times gets no verdict (a new entity is not noise). A claim is
        suspect when its answer holds at most ``span_max_support`` of the votes and one rival at least
        ``span_min_majority``. Malformed spans are suspect.
        """
        agreed = {s.key() for s in predicted or ()}
        claims: list[tuple[str, str]] = []
        for span in spans:
            surface = text[span.start : span.end]
            if not surface or (span.text is not None and span.text != surface):
                return NoiseVote(suspect=True, score=0.0, rival="malformed span", rival_score=1.0, voters=0)
            if span.key() not in agreed:
                claims.append((surface, span.label))
        for dropped in predicted or ():
            if not any(s.start < dropped.end and dropped.start < s.end for s in spans):
                claims.append((text[dropped.start : dropped.end], OUTSIDE))
        weakest: NoiseVote | None = None
        for surface, given in claims:
            counts = lexicon.counts(surface)
            total = sum(counts.values())
            if total < self.min_voters:
                continue
            share = counts[given] / total
            rival, rival_n = max(
                ((k, n) for k, n in counts.items() if k != given), key=lambda kv: (kv[1], kv[0]), default=(None, 0)
            )
            verdict = NoiseVote(
                suspect=share <= self.span_max_support and rival_n / total >= self.span_min_majority,
                score=share,
                rival=rival,
                rival_score=rival_n / total,
                voters=total,
            )
            if verdict.suspect:
                return verdict
            if weakest is None or verdict.score < weakest.score:
                weakest = verdict
        return weakest or NoiseVote(suspect=False, score=1.0, rival=None, rival_score=0.0, voters=0)
