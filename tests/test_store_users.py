"""Users: each sees and writes only their own rows; the 0003 upgrade gives old rows to one."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from quiz import config
from quiz.bank import Bank
from quiz.errors import NotFoundError, UsageError
from quiz.store import open_store, ops, scoping
from quiz.store.engine import MIGRATIONS_DIR
from quiz.store.models import QuestionFlagRow
from tests.test_study_support import T0, question


def test_two_users_on_one_database_see_only_their_own_rows(db_url: str) -> None:
    alice = open_store(db_url, user="alice")
    alice.sync_bank(Bank([question("q1"), question("q2")]))
    bob = alice.as_user("bob")
    alice.record_attempt(
        question_id="q1", seed=0, answer="B", score=1.0, correct=True, duration_s=2.0, mode="cli"
    )
    bob.record_attempt(
        question_id="q2", seed=0, answer="A", score=0.0, correct=False, duration_s=2.0, mode="cli"
    )
    for store, due in ((alice, T0), (bob, T0 + timedelta(days=3))):
        store.write(
            partial(ops.put_card, question_id="q1", card={"due": due.isoformat()}, due=due, now=T0)
        )
        store.set_setting("plan", {"owner": store.user})
    alice.set_question_flag("q1", flagged=True)
    bob.set_question_flag("q1", suspended=True)
    alice_session = alice.create_session("practice")
    bob.record_practical_run("kv-cache", {"passed": True, "device": {"cpu": "x"}}, "workspace")

    assert [a.question_id for a in alice.attempts()] == ["q1"]
    assert [a.question_id for a in bob.attempts()] == ["q2"]
    assert [c.due for c in alice.cards()] == [T0]
    assert [c.due for c in bob.cards()] == [T0 + timedelta(days=3)]
    assert alice.get_setting("plan") == {"owner": "alice"}
    assert bob.get_setting("plan") == {"owner": "bob"}
    assert [s.id for s in alice.list_sessions()] == [alice_session] and bob.list_sessions() == []
    with pytest.raises(NotFoundError):
        bob.get_session(alice_session)
    assert alice.practical_runs() == [] and len(bob.practical_runs()) == 1
    assert alice.question_flags() == {"q1": (True, False)}
    assert bob.question_flags() == {"q1": (False, True)}
    assert alice.users() == ["alice", "bob"]


def test_a_user_cannot_change_another_users_session(db_url: str) -> None:
    alice = open_store(db_url, user="alice")
    session_id = alice.create_session("mock", state={"answers": 1})
    bob = alice.as_user("bob")
    with pytest.raises(NotFoundError):
        bob.update_session(session_id, state={"answers": 99})
    assert alice.get_session(session_id).state == {"answers": 1}


def test_the_user_comes_from_the_flag_then_the_environment_then_the_login(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(config.USER_ENV, raising=False)
    monkeypatch.setattr(config.getpass, "getuser", lambda: "carol")
    assert config.user_name() == "carol"
    monkeypatch.setenv(config.USER_ENV, "dave")
    assert config.user_name() == "dave"
    assert config.user_name("erin") == "erin"
    monkeypatch.setattr(config.getpass, "getuser", lambda: "weird name!")
    monkeypatch.delenv(config.USER_ENV)
    assert config.user_name() == config.FALLBACK_USER


@pytest.mark.parametrize("bad", ["", "has space", "-dash-first", "x" * 65, "semi;colon"])
def test_a_bad_user_name_is_one_clear_line(bad: str) -> None:
    with pytest.raises(UsageError, match="user name .* is not valid"):
        config.user_name(bad)


ROWS_AT_0002 = [
    "INSERT INTO questions (id, version, content_hash, phase, level, topic, kind, title, body,"
    " retired) VALUES ('q1', 1, 'h', 'foundations', 'L1', 't', 'choice', 'Q1', '{}', false)",
    "INSERT INTO study_sessions (id, uid, mode, settings, state, status, started_at, updated_at,"
    " elapsed_s) VALUES (7, 's7', 'mock', '{}', '{\"n\": 1}', 'active', :t, :t, 12.5)",
    "INSERT INTO attempts (uid, question_id, question_version, seed, answer, score, correct,"
    " mode, session_id, created_at) VALUES ('a1', 'q1', 1, 3, 'B', 1.0, true, 'mock', 7, :t)",
    "INSERT INTO review_cards (question_id, card, due, updated_at) VALUES ('q1', '{}', :t, :t)",
    "INSERT INTO review_logs (uid, question_id, rating, review_log, reviewed_at)"
    " VALUES ('l1', 'q1', 3, '{}', :t)",
    "INSERT INTO practical_runs (uid, practical_id, source, passed, score, result, device,"
    " created_at) VALUES ('r1', 'kv-cache', 'workspace', true, 1.0, '{}', '{}', :t)",
    "INSERT INTO settings (key, value) VALUES ('plan', '{\"days\": 30}')",
    "INSERT INTO question_flags (question_id, flagged, suspended, updated_at)"
    " VALUES ('q1', true, false, :t)",
]


def migrate_to(url: str, revision: str) -> None:
    engine = create_engine(url)
    alembic_config = Config()
    alembic_config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        alembic_config.attributes["connection"] = connection
        command.upgrade(alembic_config, revision)
    engine.dispose()


def test_upgrading_a_0002_database_gives_every_row_to_the_user_and_loses_nothing(
    db_url: str,
) -> None:
    migrate_to(db_url, "0002")
    engine = create_engine(db_url)
    with engine.begin() as conn:
        for statement in ROWS_AT_0002:
            conn.execute(text(statement), {"t": T0.replace(tzinfo=None)})
    engine.dispose()

    alice = open_store(db_url, user="alice")
    [attempt] = alice.attempts()
    assert (attempt.uid, attempt.seed, attempt.session_id) == ("a1", 3, 7)
    assert alice.get_session(7).state == {"n": 1} and alice.get_session(7).elapsed_s == 12.5
    assert [c.question_id for c in alice.cards()] == ["q1"]
    assert [log.uid for log in alice.review_logs()] == ["l1"]
    assert [r.uid for r in alice.practical_runs()] == ["r1"]
    assert alice.get_setting("plan") == {"days": 30}
    with alice.session() as db:
        assert [f.flagged for f in db.query(QuestionFlagRow)] == [True]
    bob = alice.as_user("bob")
    assert bob.attempts() == [] and bob.cards() == [] and bob.get_setting("plan") is None
    bob.set_setting("plan", {"days": 5})  # the key is now (user, key): no clash with alice's
    assert alice.get_setting("plan") == {"days": 30}
    assert alice.users() == ["alice", "bob"]


def test_upgrading_an_empty_0002_database_creates_no_user(db_url: str) -> None:
    migrate_to(db_url, "0003")
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 0
    engine.dispose()


class FakeDeadlock(Exception):
    sqlstate = "40P01"


def test_a_transaction_the_database_asks_to_retry_is_run_again(db_url: str) -> None:
    store = open_store(db_url, user="alice")
    sessions = sessionmaker(store.engine)
    calls = []

    def body(_db: object) -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("UPDATE ...", {}, FakeDeadlock("deadlock detected"))
        return "done"

    assert scoping.retrying(sessions, body) == "done"
    assert len(calls) == 3


def test_an_error_the_database_does_not_ask_to_retry_is_raised_at_once(db_url: str) -> None:
    store = open_store(db_url, user="alice")
    calls = []

    def body(_db: object) -> None:
        calls.append(1)
        raise OperationalError("SELECT ...", {}, Exception("disk I/O error"))

    with pytest.raises(OperationalError):
        scoping.retrying(sessionmaker(store.engine), body)
    assert len(calls) == 1


def downgrade_to(url: str, revision: str) -> None:
    engine = create_engine(url)
    alembic_config = Config()
    alembic_config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        alembic_config.attributes["connection"] = connection
        command.downgrade(alembic_config, revision)
    engine.dispose()


def test_one_users_database_goes_back_to_0002_and_up_again_intact(db_url: str) -> None:
    alice = open_store(db_url, user="alice")
    alice.sync_bank(Bank([question("q1")]))
    alice.record_attempt(
        question_id="q1", seed=4, answer="B", score=1.0, correct=True, duration_s=2.0, mode="cli"
    )
    alice.write(lambda db: ops.put_card(db, "q1", {"n": 1}, T0, T0))
    alice.set_setting("plan", {"days": 9})
    alice.close()
    downgrade_to(db_url, "0002")
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT seed FROM attempts")).scalars().all() == [4]
        assert conn.execute(text("SELECT question_id FROM review_cards")).scalars().all() == ["q1"]
    engine.dispose()
    again = open_store(db_url, user="zoe")  # the upgrade gives the rows to whoever opens
    assert [a.seed for a in again.attempts()] == [4]
    assert again.get_setting("plan") == {"days": 9} and len(again.cards()) == 1


def test_a_database_with_two_users_refuses_to_go_back_to_0002(db_url: str) -> None:
    alice = open_store(db_url, user="alice")
    alice.set_setting("a", 1)
    alice.as_user("bob").set_setting("b", 2)
    alice.close()
    with pytest.raises(RuntimeError, match="2 users have data"):
        downgrade_to(db_url, "0002")
    reopened = open_store(db_url, user="alice")
    assert reopened.get_setting("a") == 1 and reopened.as_user("bob").get_setting("b") == 2
