"""``Diagnoser``: for each target pattern, separate the failures training can fix from those it cannot.

Training on every failure is what makes naive retraining degrade: a mislabelled trace teaches the wrong
answer, an out-of-scope input teaches the model to be confidently wrong elsewhere, and an injection attempt
teaches it to obey attacks. Each failure of a pattern is tested in this order, and the first test it fails
names its verdict:

1. ``no_correction``: the label says "fail" but gives no right answer (nothing to train on);
2. ``adversarial``: prompt injection or jailbreak phrasing (:class:`AdversarialDetector`);
3. ``already_fixed``: the production version already answers it right (the trace came from an older one);
   then, where the task has a ``checker`` (:mod:`pioneer.judging.checkers`), the correction is checked: one the
   checker rejects is ``label_noise``, one it accepts is ``fixable``; only what it cannot judge goes on;
4. ``out_of_scope``: unlike anything in the trusted data or the other traces (nearest similarity below
   ``oos_max_similarity``), or, for classification, a label the model has never seen and too few failures
   to learn it from;
5. ``label_noise``: its near neighbours contradict the correction and the deployed model, where its scores are
   known, gives the correction next to no probability (:class:`NeighbourNoiseDetector`); for entities, the
   trusted data contradicts what the correction changed in the model's answer (a type, an added or a dropped
   span: :class:`~pioneer.diagnosis.lexicon.SpanLexicon`);
6. otherwise ``fixable``.

A pattern is fixable when at least ``min_fixable`` of its failures are, and they are at least
``min_fixable_share`` of those not already fixed; the reason says what dominated otherwise.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence

import numpy as np

from pioneer.base import ParamsMixin, check_number
from pioneer.diagnosis.adversarial import AdversarialDetector
from pioneer.diagnosis.checked import check_correction
from pioneer.diagnosis.lexicon import SpanLexicon
from pioneer.diagnosis.noise import NeighbourNoiseDetector
from pioneer.diagnosis.report import (
    VERDICTS,
    DiagnosisReport,
    Finding,
    PatternDiagnosis,
)
from pioneer.diagnosis.vectors import UNRELATED_BELOW, Encoder, TfidfEncoder, cosine, take
from pioneer.events import LabeledTrace, Output, PatternRef
from pioneer.judging.base import Judge
from pioneer.traces.examples import output_key, render, target_output
from pioneer.training.base import Example, TaskAdapter

log = logging.getLogger(__name__)


class Diagnoser(ParamsMixin):
    """Label each target pattern fixable or not, failure by failure. See the module docstring.

    Parameters
    ----------
    noise
        The label-noise detector (default: ``NeighbourNoiseDetector()``).
    adversarial
        The injection detector (default: ``AdversarialDetector()``).
    encoder
        Text vectors for neighbour search (default: ``TfidfEncoder()``; ``pioneer.embedding.Embedder()`` for
        semantic neighbours).
    oos_max_similarity
        An input whose most similar labelled neighbour is below this is out of scope. None (the default): the
        encoder's own ``unrelated_below`` (0.1 for TF-IDF, 0.3 for MiniLM sentence embeddings).
    min_fixable
        Fewest fixable failures that make a pattern worth training on.
    min_fixable_share
        Smallest share of fixable failures (among those not already fixed) for the pattern to be fixable.
    max_examples
        Findings kept per verdict per pattern in the report.
    checker
        A judge that verifies answers of this deployment's task (None: none can be verified); the correction of
        each failure is judged as an answer (:func:`~pioneer.diagnosis.checked.check_correction`).
    """

    def __init__(
        self,
        *,
        noise: NeighbourNoiseDetector | None = None,
        adversarial: AdversarialDetector | None = None,
        encoder: Encoder | None = None,
        oos_max_similarity: float | None = None,
        min_fixable: int = 2,
        min_fixable_share: float = 0.5,
        max_examples: int = 5,
        checker: Judge | None = None,
    ) -> None:
        if oos_max_similarity is None:
            oos_max_similarity = getattr(encoder, "unrelated_below", UNRELATED_BELOW)
        check_number("oos_max_similarity", oos_max_similarity, 0.0, 1.0)
        check_number("min_fixable", min_fixable, 1, integer=True)
        check_number("min_fixable_share", min_fixable_share, 0.0, 1.0)
        check_number("max_examples", max_examples, 0, integer=True)
        self.noise = noise
        self.adversarial = adversarial
        self.encoder = encoder
        self.oos_max_similarity = oos_max_similarity
        self.min_fixable = min_fixable
        self.min_fixable_share = min_fixable_share
        self.max_examples = max_examples
        self.checker = checker

    def confirmed(self, passes: Sequence[LabeledTrace]) -> list[LabeledTrace]:
        """The passing traces fit to trust: a label that agrees with an obeyed injection, or with an answer the
        task's checker rejects, confirms poison, not a right answer."""
        adversarial = self.adversarial or AdversarialDetector()
        kept = []
        for trace in passes:
            if adversarial.match(trace.input.text) is not None:
                continue
            expected = target_output(trace)
            if self.checker is not None and expected is not None:
                checked = check_correction(self.checker, trace, expected)
                if checked is not None and not checked.passed:
                    continue
            kept.append(trace)
        if len(kept) < len(passes):
            log.info("passing traces left out of what is trusted", extra={"left_out": len(passes) - len(kept)})
        return kept

    def diagnose(
        self,
        task: str,
        patterns: Sequence[tuple[PatternRef, Sequence[LabeledTrace]]],
        trusted: Sequence[Example],
        *,
        production: TaskAdapter | None = None,
        model: str = "",
        version: str | None = None,
        request_id: str | None = None,
    ) -> DiagnosisReport:
        """Diagnose each pattern's traces against the ``trusted`` data (the production version's training set,
        and passing traffic, whose answers the labels confirmed).

        ``production``, when given, re-predicts the failures so that ones it already gets right are set aside.
        """
        noise = self.noise or NeighbourNoiseDetector()
        adversarial = self.adversarial or AdversarialDetector()
        encoder = self.encoder or TfidfEncoder()

        # One pool of labelled texts: trusted examples first, then every trace (deduplicated by request id).
        traces: dict[str, LabeledTrace] = {}
        for _, members in patterns:
            for trace in members:
                traces.setdefault(trace.request_id, trace)
        trace_ids = list(traces)
        pool_texts = [e.text for e in trusted] + [traces[r].input.text for r in trace_ids]
        pool_outputs: list[Output | None] = [e.expected() for e in trusted] + [
            target_output(traces[r]) for r in trace_ids
        ]
        pool_keys = [output_key(task, o) for o in pool_outputs]
        index = {request_id: len(trusted) + i for i, request_id in enumerate(trace_ids)}
        failure_ids = [r for r in trace_ids if traces[r].outcome == "fail"]

        vectors = encoder.encode(pool_texts) if pool_texts else None
        sims = (
            cosine(take(vectors, [index[r] for r in failure_ids]), vectors)
            if failure_ids and vectors is not None
            else np.zeros((0, len(pool_texts)), dtype=np.float32)
        )
        already = self._already_fixed(task, production, [traces[r] for r in failure_ids])
        known_labels = {e.label for e in trusted if e.label is not None}
        new_label_counts = Counter(
            (target_output(traces[r]) or Output()).label for r in failure_ids if task == "classification"
        )
        # What the trusted data says about each text: the entity vote (nothing to say for the other tasks).
        lexicon = SpanLexicon([], [])
        if task == "entity_extraction":
            spans = [(o.spans or []) if o else [] for o in pool_outputs[: len(trusted)]]
            lexicon = SpanLexicon(pool_texts[: len(trusted)], spans)
        groups = noise.groups(pool_keys)

        verdicts: dict[str, tuple[str, str]] = {}
        for row, failure_id in enumerate(failure_ids):
            verdicts[failure_id] = self._judge(
                task,
                traces[failure_id],
                row_sims=sims[row],
                self_index=index[failure_id],
                pool_keys=pool_keys,
                noise=noise,
                adversarial=adversarial,
                already_fixed=failure_id in already,
                known_labels=known_labels,
                new_label_counts=new_label_counts,
                lexicon=lexicon,
                groups=groups,
            )

        report = DiagnosisReport(
            model=model,
            version=version,
            request_id=request_id,
            task=task,
            patterns=[self._pattern(task, ref, members, verdicts) for ref, members in patterns],
        )
        log.info("diagnosis done", extra={"model": model, "summary": report.summary()})
        return report

    # ------------------------------------------------------------------------------------------- per failure

    def _judge(
        self,
        task: str,
        trace: LabeledTrace,
        *,
        row_sims: np.ndarray,
        self_index: int,
        pool_keys: list[Hashable],
        noise: NeighbourNoiseDetector,
        adversarial: AdversarialDetector,
        already_fixed: bool,
        known_labels: set[str],
        new_label_counts: Counter[str | None],
        lexicon: SpanLexicon,
        groups: dict[Hashable, np.ndarray],
    ) -> tuple[str, str]:
        expected = target_output(trace)
        if expected is None:
            return "no_correction", "the label marks a failure but gives no corrected output"
        rule = adversarial.match(trace.input.text)
        if rule is not None:
            return "adversarial", f"input matches the {rule!r} rule"
        if already_fixed:
            return "already_fixed", "the production version already answers it right"
        if self.checker is not None:
            checked = check_correction(self.checker, trace, expected)
            if checked is not None:
                verb = "accepts" if checked.passed else "rejects"
                reason = f"{checked.judge} {verb} the correction: {checked.reason}"
                return ("fixable" if checked.passed else "label_noise"), reason
        others = row_sims.copy()
        others[self_index] = -np.inf
        nearest = float(others.max()) if others.size > 1 else 0.0
        if nearest < self.oos_max_similarity:
            return "out_of_scope", f"nearest labelled input has similarity {nearest:.2f} < {self.oos_max_similarity}"
        if task == "classification" and known_labels and expected.label not in known_labels:
            if new_label_counts[expected.label] < self.min_fixable:
                return "out_of_scope", f"label {expected.label!r} is unknown to the model and too rare to learn"
        given = output_key(task, expected)
        if task == "entity_extraction":
            vote = noise.vote_spans(trace.input.text, expected.spans or [], lexicon, predicted=trace.prediction.spans)
        else:
            floor = noise.near_duplicate if task == "generation" else None
            scores = trace.prediction.scores if task == "classification" else None
            vote = noise.vote(
                given,
                pool_keys,
                row_sims,
                exclude=self_index,
                min_similarity=floor,
                groups=groups,
                model_support=None if not scores else scores.get(str(expected.label), 0.0),
                model_confidence=None if not scores else max(scores.values()),
            )
        if vote.suspect:
            rival = vote.rival if isinstance(vote.rival, str) else "another answer"
            return "label_noise", (
                f"neighbours contradict the correction: they support {rival!r} ({vote.rival_score:.2f})"
                f" over it ({vote.score:.2f}; {vote.voters} voters)"
            )
        return "fixable", f"neighbours support the correction ({vote.score:.2f}; best rival {vote.rival_score:.2f})"

    def _already_fixed(self, task: str, production: TaskAdapter | None, failures: list[LabeledTrace]) -> set[str]:
        if production is None or not failures:
            return set()
        predictions = production.predict([t.input.text for t in failures])
        fixed = set()
        for trace, prediction in zip(failures, predictions, strict=True):
            expected = target_output(trace)
            if expected is not None and output_key(task, prediction) == output_key(task, expected):
                fixed.add(trace.request_id)
        return fixed

    # ------------------------------------------------------------------------------------------- per pattern

    def _pattern(
        self, task: str, ref: PatternRef, members: Sequence[LabeledTrace], verdicts: dict[str, tuple[str, str]]
    ) -> PatternDiagnosis:
        failures = {t.request_id: t for t in members if t.outcome == "fail"}
        passes = sorted({t.request_id for t in members if t.outcome == "pass"})
        counts = {v: 0 for v in VERDICTS}
        examples: dict[str, list[Finding]] = defaultdict(list)
        for request_id, trace in failures.items():
            verdict, reason = verdicts[request_id]
            counts[verdict] += 1
            if len(examples[verdict]) < self.max_examples:
                examples[verdict].append(
                    Finding(
                        request_id=request_id,
                        text=trace.input.text,
                        expected=render(task, target_output(trace)),
                        predicted=render(task, trace.prediction),
                        verdict=verdict,  # type: ignore[arg-type]
                        reason=reason,
                    )
                )
        open_failures = len(failures) - counts["already_fixed"]
        fixable = counts["fixable"] >= self.min_fixable and counts["fixable"] >= self.min_fixable_share * open_failures
        if fixable:
            reason = f"{counts['fixable']} of {open_failures} open failures are fixable by training"
        elif not failures:
            reason = "no failures in this pattern"
        elif open_failures == 0:
            reason = "every failure is already fixed in production"
        else:
            blockers = {v: n for v, n in counts.items() if v not in ("fixable", "already_fixed") and n}
            dominant = max(blockers, key=lambda v: blockers[v]) if blockers else None
            reason = f"only {counts['fixable']} of {open_failures} open failures are fixable (need {self.min_fixable}"
            reason += f" and {self.min_fixable_share:.0%})"
            if dominant:
                reason += f"; mostly {dominant} ({blockers[dominant]})"
            if counts["already_fixed"]:
                reason += f"; {counts['already_fixed']} already fixed in production"
        return PatternDiagnosis(
            pattern_id=ref.pattern_id,
            name=ref.name,
            fixable=fixable,
            reason=reason,
            failures=len(failures),
            passes=len(passes),
            counts=counts,
            verdicts={r: verdicts[r][0] for r in failures},
            pass_ids=passes,
            examples=[f for v in VERDICTS for f in examples.get(v, [])],
        )
