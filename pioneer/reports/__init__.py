"""Reports: Markdown tables and matplotlib plots that benchmarks and the demo write."""

from pioneer.reports.markdown import percent, table
from pioneer.reports.panels import horizontal_bars, small_multiples
from pioneer.reports.plots import grouped_bars, timeline

__all__ = ["grouped_bars", "horizontal_bars", "percent", "small_multiples", "table", "timeline"]
