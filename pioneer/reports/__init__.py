"""Reports: Markdown tables and matplotlib plots that benchmarks and the demo write."""

from pioneer.reports.markdown import percent, table
from pioneer.reports.plots import grouped_bars, timeline

__all__ = ["grouped_bars", "percent", "table", "timeline"]
