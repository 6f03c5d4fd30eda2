"""The report's charts read at a glance: a date axis fitted to the data, a caption that fits,
whole numbers where the values are counts."""

from __future__ import annotations

from datetime import date, timedelta

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import num2date

from quiz.study.charts import accuracy_figure, mastery_figure, review_heatmap

PHASES = [
    {"name": "Foundations", "mastery": 0.8, "complete": True},
    {"name": "Core Optimization", "mastery": 0.4, "complete": False},
    {"name": "Advanced Systems", "mastery": 0.1, "complete": False},
]


def test_one_day_of_answers_gets_a_week_wide_axis_not_years() -> None:
    figure = accuracy_figure([(date(2026, 12, 1), 0.75, 30)])
    low, high = (num2date(v).date() for v in figure.axes[0].get_xlim())
    assert date(2026, 11, 26) <= low < date(2026, 12, 1) < high <= date(2026, 12, 6)


def test_a_month_of_answers_spans_that_month() -> None:
    start = date(2026, 11, 1)
    daily = [(start + timedelta(days=n), 0.5, 3) for n in range(30)]
    low, high = (num2date(v).date() for v in accuracy_figure(daily).axes[0].get_xlim())
    assert (start - low).days <= 3 and (high - date(2026, 11, 30)).days <= 3


def test_the_mastery_caption_fits_inside_the_figure() -> None:
    figure = mastery_figure(PHASES, 0.7)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    title = figure.axes[0].title
    box = title.get_window_extent(canvas.get_renderer())
    assert title.get_text() and figure.bbox.x0 <= box.x0 and box.x1 <= figure.bbox.x1


def test_the_heatmap_draws() -> None:
    png = review_heatmap({date(2026, 12, 1): 3}, date(2026, 12, 1))
    assert png.startswith(b"\x89PNG")
