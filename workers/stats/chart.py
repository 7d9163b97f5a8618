"""The /stats chart: active subscribers and revenue per day, drawn headless into a PNG.

matplotlib's object API on the Agg canvas: no pyplot, no global figure state, no display, so
it is safe in any worker process. Amounts become floats here and only here, for drawing.
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, StrMethodFormatter

from models.domain.stats import Report

WIDTH_IN, HEIGHT_IN, DPI = 9.0, 6.0, 110
ACTIVE_COLOUR, REVENUE_COLOUR = "#2a7ab0", "#3c9a5f"


def render(report: Report) -> bytes:
    """The chart as PNG bytes."""
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    active, revenue = figure.subplots(2, 1, sharex=True)
    days = list(report.days)
    active.plot(days, list(report.access.active_per_day), color=ACTIVE_COLOUR, linewidth=2)
    active.set_title(f"Active subscribers (end of each day), {days[0]} to {days[-1]} UTC")
    active.yaxis.set_major_locator(MaxNLocator(integer=True))
    active.set_ylim(bottom=0)
    active.grid(alpha=0.3)
    revenue.bar(days, [float(amount) for amount in report.revenue_per_day],
                color=REVENUE_COLOUR, width=0.8)
    revenue.set_title("Revenue per day (paid invoices, USD)")
    revenue.yaxis.set_major_formatter(StrMethodFormatter("${x:,.0f}"))
    revenue.set_ylim(bottom=0)
    revenue.grid(alpha=0.3, axis="y")
    locator = AutoDateLocator()
    revenue.xaxis.set_major_locator(locator)
    revenue.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
