"""Scores of every answer in order, with a moving average: is the line going up?"""

from __future__ import annotations

from collections.abc import Sequence

from textual_plotext import PlotextPlot

WINDOW = 5
MAX_TICKS = 8


def integer_ticks(count: int, most: int = MAX_TICKS) -> list[int]:
    """Whole answer numbers from 1 to ``count``, at most ``most`` of them, evenly stepped."""
    step = max(1, -(-count // most))
    ticks = list(range(1, count + 1, step))
    if count > 1 and ticks[-1] != count and len(ticks) < most:
        ticks.append(count)
    return ticks


def moving_average(values: Sequence[float], window: int = WINDOW) -> list[float]:
    """The mean of each value and up to ``window - 1`` before it."""
    out = []
    for index in range(len(values)):
        recent = values[max(0, index - window + 1) : index + 1]
        out.append(sum(recent) / len(recent))
    return out


class ScoreChart(PlotextPlot):
    """Answer number on x, score (0–100 %) on y."""

    DEFAULT_CSS = """
    ScoreChart { height: 12; }
    """

    scores: tuple[float, ...] = ()

    def show(self, scores: Sequence[float]) -> None:
        self.scores = tuple(scores)
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.ylim(0, 100)
        plt.xlabel("answer")
        plt.ylabel("score %")
        if scores:
            numbers = list(range(1, len(scores) + 1))
            plt.scatter(numbers, [100 * s for s in scores], marker="dot", label="answer")
            plt.plot(
                numbers,
                [100 * s for s in moving_average(scores)],
                marker="braille",
                label=f"mean of last {WINDOW}",
            )
            ticks = integer_ticks(len(scores))  # answers are counted: no 6.8th answer
            plt.xticks([float(t) for t in ticks], [str(t) for t in ticks])
        else:
            plt.title("No answers yet")
        self.refresh()
