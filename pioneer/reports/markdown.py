"""Markdown building blocks for reports."""

from __future__ import annotations

from collections.abc import Sequence


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; floats print with three decimals, None as a dash.

    >>> print(table(["model", "accuracy"], [["before", 0.8512], ["after", 0.97], ["next", None]]))
    | model | accuracy |
    | --- | --- |
    | before | 0.851 |
    | after | 0.970 |
    | next | - |
    """

    def cell(value: object) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.3f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def percent(value: float | None) -> str:
    """``0.4123 -> '41.2%'``; ``None -> 'n/a'``."""
    return "n/a" if value is None else f"{100 * value:.1f}%"
