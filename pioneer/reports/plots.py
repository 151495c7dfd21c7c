"""Plots for reports (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window
import matplotlib.pyplot as plt  # noqa: E402


def timeline(
    path: Path,
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    markers: Sequence[tuple[float, str]] = (),
    ylim: tuple[float, float] | None = (0.0, 1.0),
) -> Path:
    """Lines over time, with vertical markers for events (a release, a pattern emerging, ...)."""
    fig, ax = plt.subplots(figsize=(9, 4.2))
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, label=name, linewidth=2)
    for x, label in markers:
        ax.axvline(x, color="grey", linestyle="--", linewidth=1)
        ax.annotate(label, (x, ax.get_ylim()[1] if ylim is None else ylim[1]), rotation=90, va="top", ha="right", fontsize=8)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def grouped_bars(
    path: Path,
    groups: Sequence[str],
    bars: Mapping[str, Sequence[float]],
    *,
    title: str,
    ylabel: str,
    ylim: tuple[float, float] | None = (0.0, 1.0),
) -> Path:
    """Bars per group (e.g. a metric per stage, one bar per method), values written on top."""
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(groups) + 2), 4.2))
    width = 0.8 / max(1, len(bars))
    for i, (name, values) in enumerate(bars.items()):
        xs = [g + (i - (len(bars) - 1) / 2) * width for g in range(len(groups))]
        drawn = ax.bar(xs, values, width=width, label=name)
        ax.bar_label(drawn, labels=[f"{v:.2f}" for v in values], fontsize=7, padding=2)
    ax.set_xticks(range(len(groups)), groups)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set(title=title, ylabel=ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
