"""The AdaptFT-Bench report: a Markdown page with the results tables and plots, and the raw results as JSON.

Read at a glance: the first table says, per scenario, where each method ended and whether Pioneer improved or
preserved the base model and beat naive retraining; the first plot shows the three methods stage by stage.
The rest is the evidence: per-stage numbers with negative flips per release, the noise diagnosis scored
against the generator's ground truth (per noise kind), the recovery of planted patterns, and what each method
ended up training on.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pioneer.bench.logs import FIXABLE_KINDS, KINDS, POISON_KINDS
from pioneer.bench.runner import Checkpoint, ScenarioResult
from pioneer.reports import horizontal_bars, small_multiples, table

PRESERVE_TOLERANCE = 0.0
"""Pioneer "preserves" when its final metric is at least the base model's minus this (0: not below)."""


def verdict(result: ScenarioResult) -> dict[str, Any]:
    """Improves / preserves / degrades for Pioneer, and whether it beats naive retraining."""
    base, pioneer, naive = result.base, result.final("pioneer"), result.final("naive")
    if base is None or pioneer is None or naive is None:
        return {"pioneer": "error", "beats_naive": None, "pioneer_delta": None, "naive_delta": None}
    outcome = "improves" if pioneer > base else "preserves" if pioneer >= base - PRESERVE_TOLERANCE else "degrades"
    return {
        "pioneer": outcome,
        "beats_naive": pioneer > naive,
        "ties_naive": pioneer == naive,
        "pioneer_delta": pioneer - base,
        "naive_delta": naive - base,
        "naive_worst_delta": min(c.metric for c in result.series("naive")) - base,
    }


def _points(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.1f}"


def summary_rows(results: Sequence[ScenarioResult]) -> list[list[object]]:
    rows = []
    for r in results:
        v = verdict(r)
        rows.append([
            r.scenario, r.task, r.metric_name or "-", r.base if r.base is not None else "n/a",
            r.final("naive") if r.final("naive") is not None else "n/a",
            r.final("pioneer") if r.final("pioneer") is not None else "n/a",
            _points(v["naive_delta"]), _points(v["pioneer_delta"]), v["pioneer"],
            "yes" if v["beats_naive"] else ("tie" if v.get("ties_naive") else "no"),
            f"{r.wall_seconds:.0f}s",
        ])
    return rows


def stage_rows(result: ScenarioResult) -> list[list[object]]:
    rows = []
    diagnosis = {d["stage"]: d for d in result.diagnosis}
    for stage in range(-1, len(result.poison_rates)):
        cps = {c.method: c for c in result.checkpoints if c.stage == stage}
        if not cps:
            continue
        naive, pioneer, none = cps.get("naive"), cps.get("pioneer"), cps.get("none")
        rows.append([
            "base" if stage < 0 else f"{stage + 1}",
            "-" if stage < 0 else f"{result.poison_rates[stage]:.0%}",
            none.metric if none else "-", naive.metric if naive else "-", pioneer.metric if pioneer else "-",
            "-" if stage < 0 or naive is None else naive.negative_flips,
            "-" if stage < 0 or pioneer is None else pioneer.negative_flips,
            _gate_flips(naive, stage),
            _gate_flips(pioneer, stage),
            "-" if stage < 0 or pioneer is None or pioneer.regression_negative_flips is None
            else int(pioneer.regression_negative_flips),
            "-" if stage < 0 or pioneer is None else f"{pioneer.outcome} ({pioneer.patterns or 0} patterns)",
            "-" if stage not in diagnosis else f"{_fmt(diagnosis[stage]['precision'])} / "
            f"{_fmt(diagnosis[stage]['recall'])}",
            "-" if stage < 0 or pioneer is None else (pioneer.note or ""),
        ])
    return rows


def _gate_flips(checkpoint: Checkpoint | None, stage: int) -> object:
    """Negative flips of the release's candidate on its gate set (naive releases whatever the count)."""
    if stage < 0 or checkpoint is None or checkpoint.gate_negative_flips is None:
        return "-"
    return int(checkpoint.gate_negative_flips)


def _pooled(result: ScenarioResult) -> dict[str, Any] | None:
    pooled = [d for d in result.diagnosis if d.get("stage") == "pooled"]
    return pooled[0] if pooled else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def diagnosis_rows(results: Sequence[ScenarioResult]) -> list[list[object]]:
    rows = []
    for r in results:
        d = _pooled(r)
        if d is None:
            rows.append([r.scenario, 0, 0, 0, "n/a", "n/a"])
            continue
        rows.append([r.scenario, d["diagnosed"], d["poison"], d["flagged"], _fmt(d["precision"]), _fmt(d["recall"])])
    return rows


def kind_table(results: Sequence[ScenarioResult]) -> tuple[list[str], list[list[object]], dict[str, tuple[int, int]]]:
    """Flagged share per noise kind (rows) per scenario (columns), and pooled counts per kind."""
    headers = ["noise kind", "category", *[r.scenario for r in results], "pooled"]
    pooled: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    rows = []
    for kind in KINDS:
        row: list[object] = [kind, "poison" if kind in POISON_KINDS else "fixable" if kind in FIXABLE_KINDS else "clean"]
        seen = False
        for r in results:
            d = _pooled(r)
            entry = (d or {}).get("per_kind", {}).get(kind)
            if entry and entry["diagnosed"]:
                seen = True
                row.append(f"{entry['flagged']}/{entry['diagnosed']}")
                pooled[kind][0] += entry["flagged"]
                pooled[kind][1] += entry["diagnosed"]
            else:
                row.append("-")
        if seen:
            flagged, diagnosed = pooled[kind]
            row.append(f"{flagged / diagnosed:.0%} of {diagnosed}")
            rows.append(row)
    return headers, rows, {k: (v[0], v[1]) for k, v in pooled.items()}


def recovery_rows(results: Sequence[ScenarioResult]) -> list[list[object]]:
    rows = []
    for r in results:
        for stage, found in enumerate(r.recovery):
            for rec in found:
                rows.append([r.scenario, stage + 1, rec["pattern"], rec["failures"], _fmt(rec["precision"]),
                             _fmt(rec["recall"]), _fmt(rec["retrained"]), "yes" if rec["recovered"] else "no"])
    return rows


def training_rows(results: Sequence[ScenarioResult]) -> list[list[object]]:
    rows = []
    for r in results:
        for method in ("naive", "pioneer"):
            chain = r.series(method)
            if not chain or chain[-1].trained is None:
                continue
            t = chain[-1].trained
            total = sum(t.values())
            rows.append([r.scenario, method, t.get("clean", 0), t.get("fixable", 0), t.get("poison", 0),
                         f"{t.get('poison', 0) / total:.0%}" if total else "-"])
    return rows


def write_report(
    results: Sequence[ScenarioResult],
    out: Path,
    *,
    command: str,
    wall_seconds: float,
    machine: str,
    quick: bool,
    epsilon: int = 2,
) -> Path:
    """Write ``adaptft-report.md``, ``adaptft-results.json`` and the plots into ``out``; returns the report path.
    ``epsilon`` is the flip budget Pioneer's gate ran with (stated in the report)."""
    out.mkdir(parents=True, exist_ok=True)
    ok = [r for r in results if r.error is None]
    plots = _plots(ok, out)
    lines = [
        *_summary_lines(results, ok, plots, command=command, wall_seconds=wall_seconds, machine=machine,
                        quick=quick, epsilon=epsilon),
        *_stage_lines(ok, plots, epsilon),
        *_diagnosis_lines(results, ok, plots),
        *_recovery_lines(ok),
        *_judge_lines(ok),
        "## What each method trained on (final version)",
        "",
        table(["scenario", "method", "clean logs", "fixable logs", "poison logs", "poison share"],
              training_rows(ok)),
        "",
    ]
    report = out / "adaptft-report.md"
    report.write_text("\n".join(lines))
    (out / "adaptft-results.json").write_text(json.dumps(
        {"command": command, "machine": machine, "quick": quick, "epsilon": epsilon, "wall_seconds": wall_seconds,
         "verdicts": {r.scenario: verdict(r) for r in results},
         "results": [r.to_dict() for r in results]}, indent=2, default=float))
    return report


def _series(r: ScenarioResult, method: str, attr: str) -> list[float | None]:
    """One method's ``attr`` at the base and after each stage (None where it has no checkpoint)."""
    values: list[float | None] = [None] * 4
    for c in r.series(method):
        values[c.stage + 1] = float(getattr(c, attr))
    return values


def _plots(ok: Sequence[ScenarioResult], out: Path) -> list[str]:
    """Draw the report's plots into ``out``; returns the file names drawn."""
    if not ok:
        return []
    xticks = ["base", "stage 1", "stage 2", "stage 3"]
    small_multiples(
        out / "metric-per-stage.png",
        {f"{r.scenario} ({r.metric_name})": {m: _series(r, m, "metric") for m in ("none", "naive", "pioneer")}
         for r in ok},
        xticks=xticks, title="Held-out metric after each stage (poison 15% → 25% → 40%)", ylabel="metric",
    )
    small_multiples(
        out / "negative-flips.png",
        {r.scenario: {m: _series(r, m, "negative_flips")[1:] for m in ("naive", "pioneer")} for r in ok},
        xticks=xticks[1:], title="Negative flips per release on the held-out set", ylabel="flips", kind="bar",
    )
    plots = ["metric-per-stage.png", "negative-flips.png"]
    _, _, pooled = kind_table(ok)
    kinds = [k for k in KINDS if pooled.get(k, (0, 0))[1]]
    if kinds:
        horizontal_bars(
            out / "diagnosis-per-kind.png",
            [f"{k} ({'poison' if k in POISON_KINDS else 'fixable' if k in FIXABLE_KINDS else 'clean'})"
             for k in kinds],
            [pooled[k][0] / pooled[k][1] for k in kinds],
            colours=["C3" if k in POISON_KINDS else "C2" if k in FIXABLE_KINDS else "C7" for k in kinds],
            annotations=[f"{pooled[k][0]}/{pooled[k][1]}" for k in kinds],
            title="Failures the diagnosis kept out of training, per noise kind (all scenarios)",
            xlabel="share flagged (poison: recall, higher is better; fixable/clean: lower is better)",
        )
        plots.append("diagnosis-per-kind.png")
    return plots


def _summary_lines(
    results: Sequence[ScenarioResult],
    ok: Sequence[ScenarioResult],
    plots: list[str],
    *,
    command: str,
    wall_seconds: float,
    machine: str,
    quick: bool,
    epsilon: int,
) -> list[str]:
    """The title, the run, the headline verdict, the setup and the results table."""
    verdicts = [verdict(r) for r in ok]
    improved = sum(v["pioneer"] in ("improves", "preserves") for v in verdicts)
    beats = sum(bool(v["beats_naive"]) for v in verdicts)
    worst = min((v["naive_worst_delta"] for v in verdicts), default=None)
    lines = [
        f"# AdaptFT-Bench{' (quick)' if quick else ''}",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine}  ",
        f"Wall time: {wall_seconds:.0f} s ({wall_seconds / 60:.1f} min)",
        "",
        f"**Pioneer improves or preserves the held-out metric in {improved}/{len(ok)} scenarios and beats naive "
        f"retraining in {beats}/{len(ok)}**; naive retraining's worst drop below the base model is "
        f"{_points(worst)} points.",
        "",
        "Each scenario: a deliberately weak base model, then three deployment stages of synthetic inference logs "
        "(poison 15% → 25% → 40%, 70% of each stage's logs seen by retraining, 30% held out). Every checkpoint is "
        "scored on the same held-out set (the union of all stages' test splits, true outputs). *none* keeps the "
        "base model; *naive* retrains on every log and releases; *pioneer* clusters failures into patterns, "
        "diagnoses them, trains on a curriculum and releases only through the regression gate "
        f"(ε = {epsilon}{'' if epsilon == 2 else '; the reference: 2'}).",
        "",
        "## Results",
        "",
        table(["scenario", "task", "metric", "base", "naive final", "pioneer final", "naive Δ pts",
               "pioneer Δ pts", "pioneer", "beats naive", "wall"], summary_rows(results)),
        "",
    ]
    failed = [r for r in results if r.error is not None]
    if failed:
        lines += ["**Failed scenarios:** " + "; ".join(f"{r.scenario}: {r.error}" for r in failed), ""]
    if "metric-per-stage.png" in plots:
        lines += ["![metric per stage](metric-per-stage.png)", ""]
    return lines


def _stage_lines(ok: Sequence[ScenarioResult], plots: list[str], epsilon: int) -> list[str]:
    """Each scenario's stages: metrics, flips, the gate's decision and the diagnosis."""
    lines = [
        "## Per stage",
        "",
        "*Flips*: held-out answers the stage's release broke. *Gate flips*: what the candidate broke on its gate "
        f"set, where Pioneer's gate allows at most ε = {epsilon} (naive releases whatever the count). For a rejected "
        "stage, *gate checks failed* names those of the best-validated candidate and what it did on the gate set "
        "(production's metric and its own, answers fixed and broken), then the *nearest miss*: the candidate that "
        "failed the fewest checks.",
        "",
    ]
    for r in ok:
        lines += [
            f"### {r.scenario}: {r.description}",
            "",
            f"Held-out set: {r.heldout} logs. Logs per stage (kinds): "
            + "; ".join(f"stage {i + 1}: " + ", ".join(f"{k} {n}" for k, n in c.items())
                        for i, c in enumerate(r.stage_counts)),
            "",
            table(["stage", "poison", "none", "naive", "pioneer", "naive flips", "pioneer flips",
                   "naive gate flips", "pioneer gate flips", "pioneer R flips", "pioneer decision", "diagnosis P / R",
                   "gate checks failed"], stage_rows(r)),
            "",
        ]
    if "negative-flips.png" in plots:
        lines += ["![negative flips](negative-flips.png)", ""]
    return lines


def _diagnosis_lines(results: Sequence[ScenarioResult], ok: Sequence[ScenarioResult], plots: list[str]) -> list[str]:
    """The diagnosis scored against the planted noise, pooled and per noise kind."""
    lines = [
        "## Noise diagnosis against the ground truth",
        "",
        "Failures in the patterns sent to the trainer, pooled over the stages. *Flagged* = kept out of training "
        "(label noise, adversarial, out of scope, no correction); poison is the positive class.",
        "",
        table(["scenario", "diagnosed failures", "poison among them", "flagged", "precision", "recall"],
              diagnosis_rows(results)),
        "",
    ]
    headers, rows, _ = kind_table(ok)
    if rows:
        lines += ["Flagged / diagnosed per noise kind (for poison kinds this is the recall; for fixable and clean "
                  "kinds, good data thrown away):", "", table(headers, rows), ""]
    if "diagnosis-per-kind.png" in plots:
        lines += ["![diagnosis per kind](diagnosis-per-kind.png)", ""]
    return lines


def judge_summary(result: ScenarioResult, method: str = "pioneer") -> dict[str, Any] | None:
    """A label-free scenario's judge, pooled over stages for ``method``: calls spent, verdicts given, and the
    share of verdicts (and of corrections) right by the hidden truth; None for a scenario with feedback labels."""
    tallies = result.judge.get(method)
    if not tallies:
        return None
    total = {k: sum(t[k] for t in tallies) for k in ("served", "calls", "refused_by_budget", "no_verdict",
                                                      "verdicts", "verdicts_right", "corrections",
                                                      "corrections_right")}
    summary: dict[str, Any] = dict(total)
    summary["verdict_accuracy"] = total["verdicts_right"] / total["verdicts"] if total["verdicts"] else None
    summary["correction_accuracy"] = total["corrections_right"] / total["corrections"] if total["corrections"] else None
    return summary


def judge_rows(ok: Sequence[ScenarioResult]) -> list[list[object]]:
    rows = []
    for r in ok:
        for method in sorted(r.judge):
            j = judge_summary(r, method)
            assert j is not None
            rows.append([r.scenario, method, j["served"], j["calls"], j["refused_by_budget"], j["no_verdict"],
                         f"{j['verdicts_right']}/{j['verdicts']} ({_fmt(j['verdict_accuracy'])})",
                         f"{j['corrections_right']}/{j['corrections']} ({_fmt(j['correction_accuracy'])})"])
    return rows


def _judge_lines(ok: Sequence[ScenarioResult]) -> list[str]:
    """Label-free scenarios: what the judge cost and how often it was right by the hidden truth."""
    rows = judge_rows(ok)
    if not rows:
        return []
    spots = [[r.scenario, *(_fmt(r.series(m)[-1].blind_spot) if r.series(m) else "-" for m in ("none", "naive", "pioneer"))]
             for r in ok if r.judge]
    return [
        "## The judge (label-free scenarios)",
        "",
        ("No feedback reaches the trainer: a budgeted sample of each stage's served logs is judged and the verdicts "
         "are the only labels. Right: the verdict matches whether the answer was right by the hidden truth; a "
         "correction is right when it is a right answer."),
        "",
        table(["scenario", "method", "logs served", "judge calls", "refused by budget", "no verdict",
               "verdicts right", "corrections right"], rows),
        "",
        "Held-out metric on the planted blind spot after the last stage:",
        "",
        table(["scenario", "none", "naive", "pioneer"], spots),
        "",
    ]


def _recovery_lines(ok: Sequence[ScenarioResult]) -> list[str]:
    """Which planted failure patterns the clustering found, and how much of each reached the trainer."""
    rec = recovery_rows(ok)
    lines = [
        "## Recovery of planted failure patterns",
        "",
        "Planted patterns are withheld phrasing families, drifted wordings and systematic flips. Recovered: one "
        "discovered cluster holds at least half of the pattern's failing logs and is at least half made of them; "
        "*retrained*: share of its failures that reached the trainer.",
        "",
    ]
    if not rec:
        return [*lines, "No planted pattern had enough failures to score.", ""]
    n_rec = sum(row[-1] == "yes" for row in rec)
    return [*lines, f"{n_rec} of {len(rec)} planted patterns (per stage) recovered.", "",
            table(["scenario", "stage", "planted pattern", "failures", "precision", "recall", "retrained",
                   "recovered"], rec), ""]
