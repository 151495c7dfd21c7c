"""The cold-start report: the lineage (table and plot), the data's provenance, the frozen evaluation set, the gate."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window
import matplotlib.pyplot as plt

from pioneer.coldstart.run import ColdStartResult
from pioneer.coldstart.search import Attempt
from pioneer.reports import table

COLOURS = {"seed": "C7", "data": "C0", "hyperparameters": "C1", "strategy": "C2"}


def lineage_plot(path: Path, attempts: Sequence[Attempt], *, metric: str, target: float | None = None) -> Path:
    """Score per attempt coloured by what changed, with the best-so-far line."""
    fig, ax = plt.subplots(figsize=(8, 3.8))
    best: list[float] = []
    for a in attempts:
        if a.score is not None:
            best.append(max(best[-1], a.score) if best else a.score)
        else:
            best.append(best[-1] if best else float("nan"))
    ax.step([a.id for a in attempts], best, where="post", color="grey", linewidth=1.5, label="best so far")
    for kind, colour in COLOURS.items():
        points = [(a.id, a.score) for a in attempts if a.change_kind == kind and a.score is not None]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.scatter(xs, ys, color=colour, s=45, zorder=3, label=kind)
    if target is not None:
        ax.axhline(target, color="C3", linestyle="--", linewidth=1, label="target")
    ax.set(title="Cold-start search: validation score per attempt", xlabel="attempt", ylabel=metric)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8, framealpha=0.6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _mix(counts: dict[str, int]) -> str:
    total = sum(counts.values()) or 1
    return ", ".join(f"{source} {n} ({100 * n / total:.0f}%)" for source, n in counts.items()) or "none"


def write_report(result: ColdStartResult, directory: Path | None = None, *, target: float | None = None) -> Path:
    """Write ``report.md`` and ``lineage.png`` into ``directory`` (default: the run's workdir)."""
    directory = directory or result.workdir
    directory.mkdir(parents=True, exist_ok=True)
    task, search, decision = result.task, result.search, result.decision
    released_data = ("the refit on the validation half failed the gate, so its data alone, as the search validated "
                     "it" if search.fell_back else "its data and the validation half")
    plot = lineage_plot(directory / "lineage.png", search.attempts, metric=task.metric, target=target)
    lines = [
        f"# Cold start: {decision.model}",
        "",
        f"> {task.description}",
        "",
        (f"- Task: {task.kind}, metric {task.metric}, {len(task.labels)} labels ({', '.join(task.labels[:20])}"
        f"{', ...' if len(task.labels) > 20 else ''})"),
        *[f"- {note}" for note in task.notes],
        f"- Teacher: {result.teacher or 'none'}",
        f"- Wall time: {result.seconds:.0f} s; search stopped: {search.stop_reason}",
        "",
        "## Data provenance",
        "",
        f"- Acquired (deduplicated): {_mix(result.acquired)}",
        (f"- Evaluation set (frozen before training): {len(result.eval_set.validation)} validation"
        f" + {len(result.eval_set.gate)} gate examples, {_mix(result.eval_set.provenance())}; hash"
        f" `{result.eval_set.hash}`. No candidate trains on either half; the release trains on the validation"
        " half once the choice is made, never on the gate half that judges it"),
        f"- Training set of the released recipe ({released_data}): {_mix(result.train_provenance)}",
    ]
    for corpus in result.corpora:
        mapping = ", ".join(f"{k}→{v}" if k != v else k for k, v in list(corpus["labels"].items())[:8])
        lines.append(f"- Local corpus `{corpus['name']}`: {'used' if corpus['used'] else 'not used'} ({corpus['reason']}"
                     f"{'; ' + str(corpus['examples']) + ' examples of ' + mapping if corpus['used'] else ''})")
    if result.doubted:
        lines.append(f"- Teacher labels the rest of the data disputes (checked before the evaluation set was chosen), kept"
                     " out of the evaluation set:"
                     f" {result.doubted}")
    if result.labelling is not None:
        lab = result.labelling
        lines.append(f"- Teacher labelling: {lab.asked} asked, {lab.labelled} labelled, {lab.garbage} unusable answers,"
                     f" {lab.already_known} already in the journal"
                     + (f", {lab.rejected} answers the checker rejected (journalled with the reason)"
                        if lab.rejected else ""))
    rows = [[a.id, a.iteration, "" if a.parent is None else a.parent, a.change_kind, a.change, a.recipe.describe(),
             a.train_size, "failed: " + a.error if a.error else a.score,
             "" if a.likelihood is None else f"{a.likelihood:.3f}", f"{a.seconds:.1f}"] for a in search.attempts]
    lines += [
        "",
        "## Lineage",
        "",
        (f"Best: attempt {search.best.id} ({search.best.recipe.describe()}), validation {task.metric} "
        f"{search.best.score:.3f}: a move was kept only when its validation gain beat one standard error of the "
         "paired gain (bootstrap over the validation examples); within that, by the validation log-likelihood."),
        "",
        table(["#", "iter", "parent", "kind", "what changed", "recipe", "train", task.metric, "log-likelihood",
               "seconds"], rows),
        "",
        f"![lineage]({plot.name})",
        "",
        "## Gate (first-version rules)",
        "",
        (f"{'Released' if decision.released else 'REJECTED'}: version {decision.version}, alias"
        f" {decision.alias_name}."),
        "",
    ]
    report = decision.gate_report
    for check in report.checks if report else []:
        lines.append(f"- {'ok' if check.passed else 'FAIL'} {check.name}: {check.detail}")
    lines += [f"- note: {note}" for note in (report.notes if report else [])]
    lines += ["", "Metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in decision.metrics.items()), ""]
    path = directory / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
