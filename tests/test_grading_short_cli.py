"""Short answers on the command line: `answer --json` lists the key points and says when the
grader is unsure; `ask` runs the self-check and records the user's ticks."""

from __future__ import annotations

import io
import json

import pytest

from quiz.bank import instantiate
from quiz.cli import main
from quiz.cli._common import CliContext
from quiz.cli.practice import ask_one
from quiz.store import open_store

UNRECOGNISED = (
    "You take the finished network and squeeze every number in it into a smaller box, picking "
    "the box sizes from a handful of example prompts; the chip then spends less of each step "
    "waiting on its memory, and you check the answers did not get worse."
)


def answer_json(db_url: str, capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["--db", db_url, "answer", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_answer_json_lists_points_with_their_status(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = answer_json(
        db_url,
        capsys,
        "what-is-ptq",
        "PTQ is not applied after training and decode is not memory bound.",
    )
    assert result["needs_self_check"] is False and result["correct"] is False
    statuses = {point["text"]: point["status"] for point in result["points"]}
    assert statuses[
        "decode is memory-bandwidth bound, so fewer bytes per weight means faster tokens"
    ] == ("contradicted")
    assert set(statuses.values()) <= {"covered", "missing", "contradicted"}
    assert len(result["points"]) == 5


def test_answer_json_says_when_it_is_unsure(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = answer_json(db_url, capsys, "what-is-ptq", UNRECOGNISED)
    assert result["needs_self_check"] is True and result["correct"] is False
    assert "Not sure" in result["feedback"]
    choice = answer_json(db_url, capsys, "flashattention-io-awareness", "B", "--no-record")
    assert choice["points"] == [] and choice["needs_self_check"] is False


def test_ask_self_check_records_the_ticked_points(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = CliContext(db_url)
    instance = instantiate(ctx.bank().get("what-is-ptq"))
    # answer, then tick points 1, 2, 3 and 5, then Enter for the FSRS self-rating
    stdin = io.StringIO(f"{UNRECOGNISED}\n1 2 3 5\n\n")
    score = ask_one(ctx, instance, stdin, interactive=True)
    out = capsys.readouterr().out
    assert "not sure" in out and "Self-check" in out
    assert "Self-checked: 4 of 5 key points covered." in out
    assert score == pytest.approx(8 / 9)
    ctx.close()
    store = open_store(db_url)
    attempts = store.attempts()
    assert [(a.question_id, round(a.score, 3), a.correct) for a in attempts] == [
        ("what-is-ptq", round(8 / 9, 3), True)
    ]


def test_answer_points_records_the_self_check(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = answer_json(db_url, capsys, "what-is-ptq", UNRECOGNISED, "--points", "1,2,3,5")
    assert result["score"] == pytest.approx(8 / 9) and result["correct"] is True
    assert result["needs_self_check"] is False
    assert result["feedback"] == "Self-checked: 4 of 5 key points covered."
    (attempt,) = open_store(db_url).attempts()
    assert attempt.score == pytest.approx(8 / 9)
    for bad in (
        ["what-is-ptq", UNRECOGNISED, "--points", "9"],
        ["flashattention-io-awareness", "B", "--points", "1"],
    ):
        assert main(["--db", db_url, "answer", *bad]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
