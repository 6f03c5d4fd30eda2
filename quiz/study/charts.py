"""The report's charts as PNG bytes (matplotlib's Agg canvas, imported only when drawing)."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

HEATMAP_WEEKS = 26
COLOURS = {"bar": "#3b6ea5", "good": "#2e8b57", "line": "#c0504d", "muted": "#888888"}


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return figure, figure.add_subplot()


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _empty(axes: Axes, message: str) -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center", color=COLOURS["muted"])
    axes.set_axis_off()


def mastery_bars(phases: list[dict[str, Any]], threshold: float) -> bytes:
    """Horizontal bars of mastery per phase, with the completion threshold."""
    return _png(mastery_figure(phases, threshold))


def mastery_figure(phases: list[dict[str, Any]], threshold: float) -> Figure:
    figure, axes = _figure(7, 2.6)
    names = [p["name"] for p in phases][::-1]
    values = [p["mastery"] for p in phases][::-1]
    colours = [COLOURS["good"] if p["complete"] else COLOURS["bar"] for p in phases][::-1]
    axes.barh(names, values, color=colours)
    axes.axvline(threshold, color=COLOURS["line"], linestyle="--")
    axes.set_xlim(0, 1)
    axes.set_xlabel("mastery")
    axes.set_title(f"dashed: {threshold:.0%} mastery · green: phase complete", fontsize=9)
    return figure


def accuracy_over_time(daily: list[tuple[date, float, int]]) -> bytes:
    """Mean score per day (dots sized by the number of answers) and its 7-day average."""
    return _png(accuracy_figure(daily))


def accuracy_figure(daily: list[tuple[date, float, int]]) -> Figure:
    """The date axis spans the data (at least a week), never matplotlib's default years."""
    figure, axes = _figure(7, 2.8)
    if not daily:
        _empty(axes, "no answers yet")
        return figure
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num

    days = [d for d, _, _ in daily]
    x = date2num(days)
    scores = [s for _, s, _ in daily]
    sizes = [12 + 4 * min(n, 20) for _, _, n in daily]
    axes.scatter(x, scores, s=sizes, color=COLOURS["bar"], alpha=0.7, label="daily mean")
    rolling = []
    for day in days:
        window = [(s, n) for d, s, n in daily if day - timedelta(days=6) <= d <= day]
        rolling.append(sum(s * n for s, n in window) / sum(n for _, n in window))
    axes.plot(x, rolling, color=COLOURS["line"], label="7-day average")
    axes.xaxis_date()
    span = max(x) - min(x)
    pad = max(1.0, (7 - span) / 2, span * 0.05)
    axes.set_xlim(min(x) - pad, max(x) + pad)
    locator = AutoDateLocator(maxticks=8)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.set_ylim(-0.05, 1.05)
    axes.set_ylabel("score")
    axes.legend(loc="lower left")
    return figure


def review_heatmap(per_day: dict[date, int], today: date) -> bytes:
    """Reviews per day over the last HEATMAP_WEEKS weeks: columns are weeks, rows weekdays."""
    import numpy as np

    figure, axes = _figure(7.5, 2.2)
    first = today - timedelta(days=today.weekday()) - timedelta(weeks=HEATMAP_WEEKS - 1)
    grid = np.full((7, HEATMAP_WEEKS), np.nan)
    for offset in range((today - first).days + 1):
        day = first + timedelta(days=offset)
        grid[day.weekday(), offset // 7] = per_day.get(day, 0)
    image = axes.imshow(
        grid, cmap="Greens", aspect="auto", vmin=0, vmax=max([1, *per_day.values()])
    )
    axes.set_yticks([0, 2, 4, 6], ["Mon", "Wed", "Fri", "Sun"])
    months = [
        (col, (first + timedelta(weeks=col)).strftime("%b"))
        for col in range(HEATMAP_WEEKS)
        if (first + timedelta(weeks=col)).day <= 7
    ]
    axes.set_xticks([c for c, _ in months], [m for _, m in months])
    from matplotlib.ticker import MaxNLocator

    bar = figure.colorbar(image, ax=axes, label="reviews", shrink=0.8)
    bar.locator = MaxNLocator(integer=True)  # reviews are counted: no 0.5 of a review
    bar.update_ticks()
    return _png(figure)


def weakest_topics(topics: list[dict[str, Any]]) -> bytes:
    """Mastery of the weakest topics seen so far."""
    figure, axes = _figure(7, 0.6 + 0.35 * max(len(topics), 1))
    if not topics:
        _empty(axes, "no topic practised yet")
        return _png(figure)
    axes.barh(
        [t["id"] for t in topics][::-1], [t["mastery"] for t in topics][::-1], color=COLOURS["line"]
    )
    axes.set_xlim(0, 1)
    axes.set_xlabel("mastery")
    return _png(figure)
