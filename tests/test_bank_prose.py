"""The bank's prose on screen: the YAML's fixed-column line breaks are joined, and plain terminal
output is wrapped to the terminal's width instead; lists and paragraphs keep their lines."""

from __future__ import annotations

import pytest

from quiz.bank.prose import filled
from quiz.cli import main

PROSE = (
    "First confirm it with evidence: a trace shows idle gaps on\n"
    "the GPU between batches, and the loader's workers are busy.\n\nThen fix it:\n"
    "- more workers\n- pinned memory\n"
)


def test_filled_wraps_prose_to_the_width_and_keeps_lists() -> None:
    text = filled(PROSE, 30)
    first, second = text.split("\n\n")
    assert max(len(line) for line in first.splitlines()) <= 30
    assert len(first.splitlines()) == 5
    assert first.split() == PROSE.split("\n\n")[0].split()
    assert second == "Then fix it:\n- more workers\n- pinned memory"
    assert filled("one line", 30) == "one line"
    assert filled("a compute-bound pass", 12) == "a\ncompute-bound\npass"


@pytest.mark.parametrize("columns", [60, 120])
def test_answer_prints_the_expected_answer_wrapped_to_the_terminal(
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    columns: int,
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    question = "prefill-decode-disaggregation"  # a model answer of several YAML lines
    assert main(["--db", db_url, "answer", question, "no idea", "--no-record"]) == 0
    out = capsys.readouterr().out
    expected = out[out.index("Expected: ") : out.index("\n  1. [")]
    lines = expected.splitlines()
    assert max(len(line) for line in lines) <= columns
    # as wide as the terminal allows: every line but the last is filled to near the width
    assert all(len(line) > columns - 20 for line in lines[:-1]), lines
    assert "compute-bound pass and determines TTFT" in " ".join(lines)
