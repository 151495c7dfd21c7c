"""Diagnosis of generation poison with and without the task's checker: precision and recall against the truth.

AdaptFT's arithmetic logs (every poison kind of the reference: mislabels, clustered flips, number swaps,
negation flips, false premises, injections, jailbreaks, beside clean and fixable traffic) are served by a
production model that answered each of them wrong, so every log is a failure whose label carries a
correction: right for clean and fixable logs, wrong (or an attack) for poison. All failures form one pattern
and go through :class:`~pioneer.diagnosis.Diagnoser` with the base model's training set as trusted data, once
with the neighbour vote alone and once with the checker (:meth:`ArithmeticTask.checker`). Poison is the
positive class; *flagged* means kept out of training (:mod:`pioneer.bench.scoring`). The diagnoser's constants
were set on the classification and entity tasks; nothing here is fitted, and the checker has no constant.

    python scripts/bench_diagnosis_checker.py                     # 3 seeds x 200 logs per stage, both formats
    python scripts/bench_diagnosis_checker.py --seeds 1 --logs-per-stage 50
"""

from __future__ import annotations

import argparse
import json
import random

from pioneer.bench import SCENARIOS, LogGenerator, diagnosis_scores, merge_scores
from pioneer.bench.sources import ArithmeticSource
from pioneer.diagnosis import Diagnoser
from pioneer.diagnosis.checked import check_correction
from pioneer.events import PatternRef
from pioneer.synthetic.arithmetic import ArithmeticTask
from pioneer.traces import labeled_trace

TARGET = (0.9, 0.7)
"""Precision and recall on generation poison the issue asks for, with a checker."""


def run(seed: int, logs_per_stage: int, answer_format: str, checked: bool):
    scenario = SCENARIOS["arithmetic"]
    task = ArithmeticTask(seed=seed, largest=20, answer_format=answer_format)
    source = ArithmeticSource(task, base=300, validation=10, gate=10)
    logs = LogGenerator(logs_per_stage=logs_per_stage, fixable_share=scenario.fixable_share,
                        fixable_mix=scenario.fixable_mix, poison_mix=scenario.poison_mix, seed=seed
                        ).generate(source, prefix=f"diag{seed}")
    rng = random.Random(seed)
    traces = [
        labeled_trace(log.example, source.wrong(log.example, rng), model="m", version="v", task="generation",
                      at=float(i), expected=log.feedback)
        for i, log in enumerate(log for stage in logs.stages for log in stage.train)
    ]
    checker = task.checker() if checked else None
    report = Diagnoser(checker=checker).diagnose("generation", [(PatternRef(pattern_id="all", name="all"), traces)],
                                                 source.base_sets().train)
    judged = sum(check_correction(checker, t, t.expected) is not None for t in traces) if checker else 0
    return diagnosis_scores(report.patterns[0].verdicts, logs.by_id()), judged


def pooled(results):
    return merge_scores([score for score, _ in results]), sum(judged for _, judged in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--logs-per-stage", type=int, default=200)
    parser.add_argument("--json", default=None, help="Write the figures here as well.")
    args = parser.parse_args()
    figures = {}
    print(f"target with a checker: precision >= {TARGET[0]}, recall >= {TARGET[1]}")
    for answer_format in ("number", "equation"):
        for checked in (False, True):
            score, judged = pooled([run(seed, args.logs_per_stage, answer_format, checked)
                                    for seed in range(1, args.seeds + 1)])
            name = f"{answer_format} {'checker' if checked else 'neighbours'}"
            kinds = {k: round(v["share"], 3) for k, v in sorted(score.per_kind.items())}
            figures[name] = {"precision": score.precision, "recall": score.recall, "diagnosed": score.diagnosed,
                             "poison": score.poison, "judged_by_checker": judged, "flagged_share_per_kind": kinds}
            print(f"{name:22s} precision {score.precision or 0:.3f} recall {score.recall or 0:.3f} "
                  f"({score.poison} poison of {score.diagnosed} failures; the checker judged {judged})")
            print(f"{'':22s} flagged share per kind: {kinds}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2)


if __name__ == "__main__":
    main()
