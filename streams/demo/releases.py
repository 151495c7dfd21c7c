"""Negative flips per release, as the gate counted them and as held-out data saw them, for the demo's and the
deployments' reports: one table and one plot, so a gate's promise is always read beside what it kept."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pioneer.events import ModelRelease
from pioneer.reports import grouped_bars, table
from pioneer.training import Evaluation


def release_rows(releases: Sequence[ModelRelease], first: str, scored: Mapping[str, Evaluation]) -> list[dict[str, Any]]:
    """One row per release: its gate set's and R's figures from the release event, and its negative flips on the
    held-out set against the version it replaced (``scored``: version -> evaluation on that set)."""
    rows = []
    previous = scored[first].correct_by_id()
    for release in releases:
        metrics = release.metrics or {}
        current = scored[release.model.version].correct_by_id()
        rows.append({
            "version": release.model.version,
            "test_metric": scored[release.model.version].metric,
            "test_negative_flips": sum(1 for i, ok in previous.items() if ok and not current.get(i, False)),
            "gate_negative_flips": metrics.get("negative_flips"),
            "gate_epsilon": next((c.threshold for c in release.gate_report.checks if c.name == "negative_flips"), None),
            "gate_positive_flips": metrics.get("positive_flips"),
            "gate_examples": metrics.get("gate_examples"),
            "regression_negative_flips": metrics.get("regression_negative_flips"),
            "regression_examples": metrics.get("regression_examples"),
            "regression_flip_bound": metrics.get("regression_flip_bound"),
            "gold_examples": metrics.get("gold_examples"),
            "coverage_examples": metrics.get("coverage_examples"),
        })
        previous = current
    return rows


def flips_table(rows: Sequence[dict[str, Any]], metric_name: str, held_out: str = "test") -> str:
    """The releases side by side: held-out metric, and negative flips on the gate set, on R and held out."""
    return table(
        ["release", "version", f"{held_out} {metric_name}", "gate set", "negative flips (gate)",
         "negative flips (R; 95% bound)", f"negative flips ({held_out})", "gold examples", "coverage examples"],
        [[f"r{i}", r["version"][:18], f"{r['test_metric']:.4f}", count(r["gate_examples"]),
          count(r["gate_negative_flips"]), r_flips(r), r["test_negative_flips"], count(r["gold_examples"]),
          count(r["coverage_examples"])] for i, r in enumerate(rows, 1)],
    )


def flips_plot(path: Path, rows: Sequence[dict[str, Any]], title: str, held_out: str = "test set") -> None:
    """Grouped bars of each release's negative flips on the gate set, on R and on the held-out set."""
    gate = [float(r["gate_negative_flips"] or 0) for r in rows]
    on_r = [float(r["regression_negative_flips"] or 0) for r in rows]
    test = [float(r["test_negative_flips"]) for r in rows]
    budget = flip_budget(rows)
    grouped_bars(path, [f"r{i}" for i in range(1, len(rows) + 1)],
                 {f"gate set ({budget})" if budget else "gate set": gate,
                  f"regression set R ({budget + ', ' if budget else ''}rate bound)": on_r,
                  f"{held_out} (held out)": test},
                 title=title, ylabel="negative flips", ylim=(0.0, max(3.0, *gate, *on_r, *test) * 1.2))


def flip_budget(rows: Sequence[Mapping[str, Any]]) -> str:
    """The gate's flip budget the releases ran with, as a legend reads it (``ε = 5``; empty when unknown).

    >>> flip_budget([{"gate_epsilon": 5.0}, {"gate_epsilon": 5.0}]), flip_budget([{"gate_epsilon": None}])
    ('ε = 5', '')
    """
    budgets = sorted({int(r["gate_epsilon"]) for r in rows if r.get("gate_epsilon") is not None})
    return "ε = " + " / ".join(map(str, budgets)) if budgets else ""


def count(value: float | None) -> str:
    """A count carried as a float in event metrics, for a table cell."""
    return "-" if value is None else str(int(value))


def r_flips(row: Mapping[str, Any]) -> str:
    """Flips on the regression set R, of how many, with the 95% upper bound on the rate: ``1/812 (≤0.58%)``."""
    flips, n, bound = (row.get(k) for k in ("regression_negative_flips", "regression_examples",
                                              "regression_flip_bound"))
    if flips is None:
        return "-"
    return f"{int(flips)}/{count(n)}" + ("" if bound is None else f" (≤{100 * bound:.2f}%)")
