"""The bank's prose for display: its YAML wraps paragraphs at a fixed column, which reads badly
in a window of any other width. ``unwrapped`` joins those lines (a Textual Static then wraps to
the window); ``filled`` wraps to a given width for plain terminal output. Paragraphs, lists,
tables and code keep their lines."""

from __future__ import annotations

import re
import textwrap

_STRUCTURED_LINE = re.compile(r"\s*([-*+]\s|\d+[.)]\s|[|>]|```)")  # not "70.6 GB ..."


def unwrapped(text: str) -> str:
    """``text`` with the line breaks inside each prose paragraph joined."""
    return "\n\n".join(paragraph for paragraph, _ in _paragraphs(text))


def filled(text: str, width: int) -> str:
    """``text`` unwrapped, then each prose paragraph wrapped to ``width`` columns (between
    words only: "compute-bound" and a long URL stay whole)."""
    return "\n\n".join(
        paragraph
        if structured
        else textwrap.fill(paragraph, width, break_long_words=False, break_on_hyphens=False)
        for paragraph, structured in _paragraphs(text)
    )


def _paragraphs(text: str) -> list[tuple[str, bool]]:
    """Each paragraph and whether it is structured (a list, table, quote or code: kept as it
    is); prose paragraphs come back on one line."""
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        lines = paragraph.splitlines()
        if any(_STRUCTURED_LINE.match(line) for line in lines):
            paragraphs.append((paragraph, True))
        else:
            paragraphs.append((" ".join(line.strip() for line in lines), False))
    return paragraphs
