"""Markdown building blocks for reports."""

from __future__ import annotations

from collections.abc import Sequence


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; floats print with three decimals.

    >>> print(table(["model", "accuracy"], [["before", 0.8512], ["after", 0.97]]))
    | model | accuracy |
    | --- | --- |
    | before | 0.851 |
    | after | 0.970 |
    """

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.3f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def percent(value: float | None) -> str:
    """``0.4123 -> '41.2%'``; ``None -> 'n/a'``."""
    return "n/a" if value is None else f"{100 * value:.1f}%"
