"""The CLI contract: help everywhere, one-line errors with the documented exit codes."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from quiz import __version__
from quiz.cli import build_parser, main


def walk_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), helps.get(name), sub
                yield from walk_parsers(sub, (*path, name))


def test_every_command_has_help_text() -> None:
    commands = list(walk_parsers(build_parser()))
    names = {" ".join(path) for path, _, _ in commands}
    assert {"bank validate", "bank list", "bank show", "answer", "ask", "doctor"} <= names
    for path, help_text, sub in commands:
        assert help_text, f"`{' '.join(path)}` has no help text"
        for action in sub._actions:
            if action.dest not in ("help",) and not isinstance(action, argparse._SubParsersAction):
                assert action.help, f"`{' '.join(path)}` option {action.dest} has no help"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"latency-quiz {__version__}"


@pytest.mark.parametrize(
    "argv",
    [["bank", "list", "--phase", "nope"], ["no-such-command"], ["answer"], ["bank"]],
)
def test_usage_mistake_is_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("latency-quiz")


def test_unknown_question_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bank", "show", "no-such-question"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "latency-quiz: error: unknown question id 'no-such-question'"


def test_bad_answer_format_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    rows = json.loads(run_json(["bank", "list", "--kind", "choice", "--json"]))
    choice_id = rows[0]["id"]
    capsys.readouterr()
    assert main(["--db", db_url, "answer", choice_id, "Z"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error" in err


def run_json(argv: list[str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "quiz", *argv], capture_output=True, text=True, check=True
    )
    return proc.stdout


def test_answer_json_contract_and_recording(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = json.loads(run_json(["bank", "list", "--kind", "choice", "--json"]))
    question_id = rows[0]["id"]
    shown = json.loads(run_json(["bank", "show", question_id, "--key", "--json"]))
    assert {"id", "phase", "level", "topic", "kind", "prompt", "choices", "key"} <= set(shown)
    assert [c["id"] for c in shown["choices"]][:2] == ["A", "B"]
    capsys.readouterr()
    assert main(["--db", db_url, "answer", question_id, shown["key"], "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert set(verdict) == {
        "id",
        "seed",
        "score",
        "correct",
        "feedback",
        "expected",
        "points",
        "needs_self_check",
    }
    assert verdict["correct"] is True and verdict["score"] == 1.0

    from quiz.store import open_store

    store = open_store(db_url)
    try:
        attempts = store.attempts(question_id=question_id)
        assert len(attempts) == 1 and attempts[0].correct
    finally:
        store.close()


def test_bank_list_json_shape() -> None:
    rows = json.loads(run_json(["bank", "list", "--json"]))
    assert len(rows) >= 60
    for row in rows:
        assert {"id", "phase", "level", "topic", "kind", "title", "parameterized"} <= set(row)
    assert any(row["parameterized"] for row in rows)


def test_corrupt_database_is_reported_and_left_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_file = tmp_path / "broken.db"
    db_file.write_bytes(b"this is not a database" * 100)
    before = db_file.read_bytes()
    assert main(["--db", f"sqlite:///{db_file}", "answer", "latency-vs-throughput", "x"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "database" in err
    assert db_file.read_bytes() == before


def test_unreachable_database_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    url = "sqlite:////nonexistent-dir/deeper/quiz.db"
    assert main(["--db", url, "answer", "latency-vs-throughput", "x"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "database" in err


def test_ask_reads_piped_stdin_and_records(db_url: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "quiz", "--db", db_url, "ask", "-n", "2", "--phase", "foundations"],
        input="A\n\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Question 1/2" in proc.stdout and "Summary:" in proc.stdout
    assert "> A\n" in proc.stdout  # a piped answer is echoed after the prompt


def test_plain_text_drops_markdown_marks() -> None:
    from quiz.cli.bank import plain

    assert plain("the **memory-bound** `decode` step is __slow__") == (
        "the memory-bound decode step is slow"
    )
    assert plain("2 * 3 * 4 stays") == "2 * 3 * 4 stays"


def test_ask_counts_skips_apart_from_answers(db_url: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "quiz", "--db", db_url, "ask", "-n", "2"],
        input="\n\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Summary: no answers given, 2 skipped." in proc.stdout


def test_a_question_says_how_its_answer_may_be_typed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bank", "show", "int8-symmetric-scale"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("(a plain number: 0.4, 40% or 2/5)")
    assert main(["bank", "show", "spec-decode-tpot"]) == 0
    assert "or any unit of the same kind)" in capsys.readouterr().out
