"""The one table `make bench` ends with: a row per figure, its baseline, ratio, goal and verdict.

Every phase returns `Row`s; the summary prints them in the order the phases ran. A row whose
figure could not be measured (the phase failed or was skipped) says so instead of a number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One measured figure against its baseline (if it has one) and its goal.

    `ratio` is measured/baseline whatever the unit; `goal` is the text printed (">=0.5x",
    "p99 <1000 ms") and `met` is decided by the phase, which knows what its goal means.
    """

    figure: str
    measured: float | None
    unit: str
    goal: str
    met: bool
    baseline: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.measured is None or not self.baseline:
            return None
        return self.measured / self.baseline


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"


def render(rows: Iterable[Row]) -> list[str]:
    """The summary table as lines; a note follows its row indented, so the table stays narrow."""
    lines = [f"  {'figure':<40} {'measured':>10} {'baseline':>10} {'ratio':>7} "
             f"{'goal':>12}  verdict"]
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
        measured = _num(row.measured) + (f" {row.unit}" if row.unit and row.measured is not None
                                         else "")
        lines.append(f"  {row.figure:<40} {measured:>10} {_num(row.baseline):>10} {ratio:>7} "
                     f"{row.goal:>12}  {'met' if row.met else 'NOT MET'}")
        if row.note:
            lines.append(f"      {row.note}")
    return lines


def missing(figure: str, goal: str, why: str) -> Row:
    """A row for a figure the run could not measure: never counted as met."""
    return Row(figure=figure, measured=None, unit="", goal=goal, met=False, note=why)


Say = Callable[[str], None]
