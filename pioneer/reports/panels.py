"""Small multiples: one small chart per group (a scenario, a model), same axes, side by side.

A benchmark with several scenarios reads best as a grid of small charts with the same series in the same
colours, so the eye compares shapes ("this line holds, that one falls") instead of hunting through legends.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window
import matplotlib.pyplot as plt  # noqa: E402

Series = Mapping[str, Sequence[float | None]]


def small_multiples(
    path: Path,
    panels: Mapping[str, Series],
    *,
    xticks: Sequence[str],
    title: str,
    ylabel: str,
    kind: str = "line",
    ylim: tuple[float, float] | None = None,
    columns: int = 4,
) -> Path:
    """One panel per entry of ``panels`` (title -> series name -> one value per x tick; None = no value).

    ``kind`` is ``line`` (a metric across stages) or ``bar`` (counts per stage, series side by side).
    """
    if kind not in ("line", "bar"):
        raise ValueError(f"kind must be 'line' or 'bar', got {kind!r}")
    n = max(1, len(panels))
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(max(6.0, 3.4 * cols), 2.9 * rows + 0.9), squeeze=False)
    names = list(dict.fromkeys(name for series in panels.values() for name in series))
    colours = {name: f"C{i}" for i, name in enumerate(names)}
    xs = list(range(len(xticks)))
    for ax, (panel, series) in zip(axes.flat, panels.items(), strict=False):
        width = 0.8 / max(1, len(series))
        for i, (name, values) in enumerate(series.items()):
            points = [(x, v) for x, v in zip(xs, values, strict=False) if v is not None]
            if not points:
                continue
            px, py = zip(*points, strict=True)
            if kind == "line":
                ax.plot(px, py, marker="o", linewidth=2, color=colours[name], label=name)
            else:
                offset = (i - (len(series) - 1) / 2) * width
                ax.bar([x + offset for x in px], py, width=width, color=colours[name], label=name)
        ax.set_title(panel, fontsize=9)
        ax.set_xticks(xs, xticks, fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    for row in axes:
        row[0].set_ylabel(ylabel, fontsize=8)
    handles = [plt.Line2D([0], [0], color=colours[name], linewidth=3) for name in names]
    fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def horizontal_bars(
    path: Path,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    xlabel: str,
    colours: Sequence[str] | None = None,
    annotations: Sequence[str] | None = None,
    xlim: tuple[float, float] | None = (0.0, 1.0),
) -> Path:
    """One bar per label, longest labels readable (noise kinds, slices), optional text after each bar."""
    fig, ax = plt.subplots(figsize=(7.5, 0.38 * len(labels) + 1.4))
    ys = list(range(len(labels)))[::-1]
    ax.barh(ys, values, color=list(colours) if colours else None)
    ax.set_yticks(ys, labels, fontsize=8)
    if annotations:
        for y, v, text in zip(ys, values, annotations, strict=True):
            ax.annotate(text, (v, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
    if xlim is not None:
        ax.set_xlim(*xlim)
    ax.set(title=title, xlabel=xlabel)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
