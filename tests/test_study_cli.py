"""`latency-quiz review | plan | progress | report | export | import` over a tiny bank."""

from __future__ import annotations

import argparse
import json
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from quiz.bank import instantiate
from quiz.cli import build_parser, main
from quiz.cli._common import CliContext
from tests.test_study_support import build_history, fresh_store, tiny_bank, wrong_answer

BANK = tiny_bank()
COMMANDS = ["review", "plan", "progress", "report", "export", "import"]


@pytest.fixture(autouse=True)
def tiny_bank_in_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CliContext, "bank", lambda self: BANK)


def run(db_url: str, *argv: str) -> int:
    return main(["--db", db_url, *argv])


def json_out(capsys: pytest.CaptureFixture[str], db_url: str, *argv: str) -> dict[str, Any]:
    assert run(db_url, *argv) == 0
    return json.loads(capsys.readouterr().out)


def test_every_study_command_and_option_has_help() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help for a in subparsers._choices_actions}
    for name in COMMANDS:
        assert helps.get(name), name
        for action in subparsers.choices[name]._actions:
            assert action.help, f"{name} {action.dest}"


def test_review_lists_due_cards_with_counts(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = wrong_answer(instantiate(BANK.get("f-choice"), 0))
    answered = datetime.now(timezone.utc)
    assert run(db_url, "answer", "f-choice", wrong) == 0
    capsys.readouterr()
    data = json_out(capsys, db_url, "review", "--json")
    # due in a minute (Again): today, unless that minute is past midnight UTC (CI once ran this
    # at 23:59)
    today = 1 if (answered + timedelta(minutes=15)).date() == answered.date() else None
    counts = (data["due_now"], data["due_today"], data["due_week"])
    assert counts in ([(0, 1, 1)] if today else [(0, 0, 1), (0, 1, 1)])
    assert data["cards"] == []  # not yet now
    assert run(db_url, "review") == 0
    assert f"0 due now, {counts[1]} today, 1 this week." in capsys.readouterr().out


def test_plan_sets_and_shows(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    today = date.today()
    start, interview = today - timedelta(days=7), today + timedelta(days=49)
    plan = json_out(
        capsys,
        db_url,
        "plan",
        "--start",
        start.isoformat(),
        "--interview",
        interview.isoformat(),
        "--json",
    )
    assert (plan["start"], plan["interview"], plan["week"]) == (
        start.isoformat(),
        interview.isoformat(),
        2,
    )
    assert run(db_url, "plan") == 0
    assert f"Interview on {interview.isoformat()}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plan", "--start", "2026-05-01", "--interview", "2026-04-01"], "must come after"),
        (["plan", "--interview", "soon"], "not a date: 'soon'"),
        (["plan", "--start", "2026-05-01"], "give --interview DATE too"),
        (["report", "-o", "out.pdf"], ".html or .md"),
    ],
)
def test_mistakes_are_one_line(
    db_url: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert run(db_url, *argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_progress_json_has_the_documented_shape(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json_out(capsys, db_url, "progress", "--json")
    assert set(data) == {"phases", "topics", "due_reviews", "streak_days", "plan", "mocks"}
    assert [p["id"] for p in data["phases"]] == ["foundations", "core", "advanced"]
    assert [p["name"] for p in data["phases"]] == [
        "Foundations",
        "Core Optimization",
        "Advanced Systems",
    ]
    assert data["phases"][0]["title"] == "ML Systems & Profiling"
    assert run(db_url, "progress") == 0
    lines = capsys.readouterr().out.splitlines()
    # Named as in the TUI, the bars lined up after the longest name.
    for line, name in zip(
        lines[:3], ("Foundations", "Core Optimization", "Advanced Systems"), strict=True
    ):
        assert line.startswith(f"{name} "), line
    assert len({line.index("%") for line in lines[:3]}) == 1


def test_report_export_and_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = f"sqlite:///{tmp_path / 'a.db'}"
    build_history(fresh_store(source, BANK), BANK)
    assert run(source, "report", "-o", str(tmp_path / "r.html")) == 0
    assert (tmp_path / "r.html").read_text(encoding="utf-8").count("data:image/png") == 4
    assert run(source, "export", "-o", str(tmp_path / "e.json")) == 0
    target = f"sqlite:///{tmp_path / 'b.db'}"
    assert run(target, "import", str(tmp_path / "e.json")) == 0
    out = capsys.readouterr().out
    assert re.search(r"added: questions 0, sessions 1, attempts [1-9]\d*, review cards", out)
    (tmp_path / "bad.json").write_text("[]", encoding="utf-8")
    assert run(target, "import", str(tmp_path / "bad.json")) == 1
    err = capsys.readouterr().err.strip()
    assert "not a latency-quiz export" in err and len(err.splitlines()) == 1
