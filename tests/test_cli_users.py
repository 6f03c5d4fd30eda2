"""`--user` on the command line, `doctor`'s database lines, and exports that carry the user."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from quiz import config
from quiz.cli import main
from quiz.store import open_store


def answer(db_url: str, user: str, choice: str) -> int:
    return main(["--db", db_url, "--user", user, "answer", "flashattention-io-awareness", choice])


def test_the_user_flag_keeps_answers_apart_and_is_not_left_behind(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = os.environ.get(config.USER_ENV)
    assert answer(db_url, "alice", "C") == 0 and answer(db_url, "bob", "A") == 0
    assert os.environ.get(config.USER_ENV) == before  # main restores the environment
    store = open_store(db_url, user="alice")
    assert [a.answer for a in store.attempts()] == ["C"]
    assert [a.answer for a in store.as_user("bob").attempts()] == ["A"]
    capsys.readouterr()
    assert main(["--db", db_url, "--user", "bob", "progress", "--json"]) == 0
    phases = json.loads(capsys.readouterr().out)["phases"]
    assert sum(p["questions_seen"] for p in phases) == 1


def test_a_bad_user_name_is_one_line_and_exit_2(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", db_url, "--user", "no spaces", "progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("latency-quiz: error: user name 'no spaces' is not valid")
    assert err.count("\n") == 1


def test_doctor_reports_the_backend_its_version_and_the_user(
    db_url: str, db_backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", db_url, "--user", "carol", "doctor", "--json"]) == 0
    store = json.loads(capsys.readouterr().out)["store"]
    assert store["backend"] == db_backend and store["user"] == "carol"
    assert store["version"].split(".")[0].isdigit()
    assert main(["--db", db_url, "--user", "carol", "doctor"]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^Backend +{db_backend} {re.escape(store['version'])}$", out, re.M)
    assert re.search(r"^User +carol$", out, re.M)


def test_an_export_carries_its_user_into_another_database(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert answer(db_url, "alice", "C") == 0
    exported = tmp_path / "alice.json"
    assert main(["--db", db_url, "--user", "alice", "export", "-o", str(exported)]) == 0
    assert json.loads(exported.read_text())["user"] == "alice"
    other = f"sqlite:///{tmp_path / 'class.db'}"
    assert main(["--db", other, "--user", "teacher", "import", str(exported)]) == 0
    store = open_store(other, user="teacher")
    assert store.attempts() == []
    assert [a.answer for a in store.as_user("alice").attempts()] == ["C"]
