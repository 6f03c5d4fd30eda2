"""Syncing the bank, attempts, sessions, practical runs, settings — and durability."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from quiz.bank import Bank
from quiz.errors import NotFoundError
from quiz.store import SyncReport, open_store
from tests.test_study_support import T0, question, tiny_bank


def test_sync_is_idempotent(db_url: str) -> None:
    store = open_store(db_url)
    bank = tiny_bank()
    assert store.sync_bank(bank) == SyncReport(added=len(bank), updated=0, unchanged=0, retired=0)
    assert store.sync_bank(bank) == SyncReport(added=0, updated=0, unchanged=len(bank), retired=0)
    assert len(store.questions()) == len(bank)


def test_editing_a_question_bumps_its_version_and_keeps_its_attempts(db_url: str) -> None:
    store = open_store(db_url)
    store.sync_bank(Bank([question("q1"), question("q2")]))
    store.record_attempt(
        question_id="q1", seed=0, answer="B", score=1.0, correct=True, duration_s=3.0, mode="cli"
    )
    edited = Bank([question("q1", prompt="Which option is right, now?"), question("q2")])
    assert store.sync_bank(edited) == SyncReport(added=0, updated=1, unchanged=1, retired=0)
    rows = {q.id: q for q in store.questions()}
    assert rows["q1"].version == 2 and rows["q2"].version == 1
    assert rows["q1"].body["prompt"] == "Which option is right, now?"
    [attempt] = store.attempts(question_id="q1")
    assert attempt.question_version == 1
    store.record_attempt(
        question_id="q1", seed=0, answer="A", score=0.0, correct=False, duration_s=3.0, mode="cli"
    )
    assert [a.question_version for a in store.attempts(question_id="q1")] == [1, 2]


def test_a_question_gone_from_the_bank_is_retired_and_can_come_back(db_url: str) -> None:
    store = open_store(db_url)
    store.sync_bank(Bank([question("q1"), question("q2")]))
    assert store.sync_bank(Bank([question("q1", prompt="Edited?")])) == SyncReport(
        added=0, updated=1, unchanged=0, retired=1
    )
    assert [q.id for q in store.questions()] == ["q1"]
    assert {q.id for q in store.questions(include_retired=True)} == {"q1", "q2"}
    report = store.sync_bank(Bank([question("q1", prompt="Edited?"), question("q2")]))
    assert (report.updated, report.unchanged, report.retired) == (1, 1, 0)
    assert {q.id for q in store.questions()} == {"q1", "q2"}


def test_sync_of_a_large_bank_is_fast(db_url: str) -> None:
    store = open_store(db_url)
    bank = Bank([question(f"q{i}") for i in range(600)])
    store.sync_bank(bank)
    started = time.perf_counter()
    report = store.sync_bank(bank)
    assert report.unchanged == 600
    assert time.perf_counter() - started < 2.0  # generous: the machine is shared


def test_attempts_round_trip_with_aware_utc_times(db_url: str) -> None:
    store = open_store(db_url)
    store.sync_bank(tiny_bank())
    attempt_id = store.record_attempt(
        question_id="f-choice",
        seed=7,
        answer="B",
        score=1.0,
        correct=True,
        duration_s=4.5,
        mode="practice",
        rating=3,
        created_at=T0,
    )
    [row] = store.attempts(mode="practice")
    assert (row.id, row.seed, row.answer, row.rating, row.created_at) == (attempt_id, 7, "B", 3, T0)
    assert row.created_at.tzinfo is not None


def test_an_attempt_at_an_unknown_question_is_not_found(db_url: str) -> None:
    store = open_store(db_url)
    with pytest.raises(NotFoundError, match="nope"):
        store.record_attempt(
            question_id="nope", seed=0, answer="B", score=1, correct=True, duration_s=1, mode="cli"
        )


def test_sessions_create_update_finish_and_list(db_url: str) -> None:
    store = open_store(db_url)
    sid = store.create_session("mock", settings={"level": "L2"}, time_limit_s=600, started_at=T0)
    store.update_session(sid, state={"answers": [1]}, elapsed_s=12.5)
    row = store.get_session(sid)
    assert (row.status, row.state, row.elapsed_s, row.time_limit_s) == (
        "active",
        {"answers": [1]},
        12.5,
        600,
    )
    assert [s.id for s in store.list_sessions(mode="mock", status="active")] == [sid]
    store.finish_session(sid, elapsed_s=30.0)
    row = store.get_session(sid)
    assert row.status == "finished" and row.finished_at is not None and row.elapsed_s == 30.0
    assert store.list_sessions(status="active") == []
    with pytest.raises(NotFoundError):
        store.get_session(sid + 1)


def test_practical_runs_keep_result_and_device(db_url: str) -> None:
    store = open_store(db_url)
    result = {"passed": True, "score": 0.75, "duration_s": 41.2, "device": {"name": "cpu"}}
    run_id = store.record_practical_run("int8-ptq", result, "workspace")
    store.record_practical_run("other", {"passed": False}, "starter")
    [run] = store.practical_runs("int8-ptq")
    assert (run.id, run.passed, run.score, run.duration_s) == (run_id, True, 0.75, 41.2)
    assert run.device == {"name": "cpu"} and run.result == result
    assert len(store.practical_runs()) == 2
    assert store.practical_runs("other")[0].score == 0.0


def test_settings_hold_json_and_none_deletes(db_url: str) -> None:
    store = open_store(db_url)
    assert store.get_setting("plan", "unset") == "unset"
    store.set_setting("plan", {"start": "2026-03-02"})
    store.set_setting("plan", {"start": "2026-03-09"})
    assert store.get_setting("plan") == {"start": "2026-03-09"}
    store.set_setting("plan", None)
    assert store.get_setting("plan") is None


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from quiz.bank import Bank
    from test_study_support import question
    from quiz.store import open_store

    store = open_store(sys.argv[1])
    store.sync_bank(Bank([question("q1")]))
    for i in range(5):
        store.record_attempt(question_id="q1", seed=i, answer="B", score=1.0, correct=True,
                             duration_s=1.0, mode="practice")
    if sys.argv[2] == "exit":
        os._exit(0)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.parametrize("how", ["exit", "kill"])
def test_a_killed_process_loses_no_committed_answer(tmp_path: Path, how: str) -> None:
    url = f"sqlite:///{tmp_path / 'quiz.db'}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    done = subprocess.run([sys.executable, "-c", KILLER, url, how], env=env, timeout=120)
    assert done.returncode == (0 if how == "exit" else -signal.SIGKILL)
    store = open_store(url)
    assert [a.seed for a in store.attempts()] == [0, 1, 2, 3, 4]


OPENER = "import sys; from quiz.store import open_store; open_store(sys.argv[1]).set_setting(sys.argv[2], 1)"


def test_processes_opening_a_new_database_at_once_all_succeed(db_url: str) -> None:
    url = db_url
    procs = [
        subprocess.Popen([sys.executable, "-c", OPENER, url, f"p{i}"], stderr=subprocess.PIPE)
        for i in range(5)
    ]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 5, errors
    store = open_store(url)
    assert [store.get_setting(f"p{i}") for i in range(5)] == [1] * 5
