"""Progress on a constructed history, checked against values computed by hand."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from quiz.store import Store, ops
from quiz.study.cards import SCHEDULER
from quiz.study.plan import load_roadmap, set_plan
from quiz.study.progress import progress
from tests.test_study_support import T0, fresh_store, tiny_bank

NOW = T0
DECAY = -SCHEDULER.parameters[20]
FACTOR = 0.9 ** (1 / DECAY) - 1


def recall(days: int, stability: float) -> float:
    """FSRS-6 retrievability, written out: (1 + FACTOR · t / S) ^ DECAY."""
    return (1 + FACTOR * days / stability) ** DECAY


def put_card(store: Store, qid: str, *, stability: float, reviewed: datetime) -> None:
    card = {
        "card_id": 1,
        "state": 2,
        "step": None,
        "stability": stability,
        "difficulty": 5.0,
        "due": (reviewed + timedelta(days=stability)).isoformat(),
        "last_review": reviewed.isoformat(),
    }
    with store.session() as db:
        ops.put_card(db, qid, card, reviewed + timedelta(days=stability), reviewed)


def attempt(store: Store, qid: str, score: float, at: datetime) -> None:
    store.record_attempt(
        question_id=qid,
        seed=0,
        answer="x",
        score=score,
        correct=score >= 1,
        duration_s=30,
        mode="practice",
        created_at=at,
    )


@pytest.fixture
def history(db_url: str) -> Store:
    store = fresh_store(db_url, tiny_bank())
    day = timedelta(days=1)
    # f-choice: four attempts, the last three right; reviewed 5 days ago with stability 10.
    for i, score in enumerate([0.0, 1.0, 1.0, 1.0]):
        attempt(store, "f-choice", score, NOW - (9 - i) * day)
    put_card(store, "f-choice", stability=10, reviewed=NOW - 5 * day)
    # f-short: one half-right answer yesterday, stability 2.
    attempt(store, "f-short", 0.5, NOW - day)
    put_card(store, "f-short", stability=2, reviewed=NOW - day)
    # c-choice: right today, stability 4, reviewed today.
    attempt(store, "c-choice", 1.0, NOW - timedelta(hours=1))
    put_card(store, "c-choice", stability=4, reviewed=NOW - timedelta(hours=1))
    # Practicals: the foundations milestone passed from the user's workspace; the core
    # milestone only "passed" with the reference solution, which never counts.
    passed = {"passed": True, "score": 1.0}
    store.record_practical_run("serve-and-profile", passed, "workspace", created_at=NOW - day)
    store.record_practical_run("int8-ptq", passed, "reference", created_at=NOW - day)
    return store


def test_progress_matches_the_hand_computed_values(history: Store) -> None:
    data = progress(history, tiny_bank(), NOW, roadmap=load_roadmap())
    assert set(data) == {"phases", "topics", "due_reviews", "streak_days", "plan", "mocks"}
    phases = {p["id"]: p for p in data["phases"]}

    m_choice = 1.0 * recall(5, 10)  # last three scores all 1.0
    m_short = 0.5 * recall(1, 2)
    m_numeric = 0.0  # never attempted
    foundations = 0.8 * (m_choice + m_short + m_numeric) / 3 + 0.2 * 1.0
    f = phases["foundations"]
    assert f["mastery"] == pytest.approx(foundations, abs=1e-3)
    assert (f["questions_seen"], f["questions_total"]) == (2, 3)
    assert (f["practicals_passed"], f["practicals_total"]) == (1, 1)
    assert f["milestone_passed"] is True
    assert f["complete"] is False  # milestone passed but mastery below 0.7
    assert set(f) >= {
        "id",
        "name",
        "weeks",
        "mastery",
        "questions_seen",
        "questions_total",
        "practicals_passed",
        "practicals_total",
        "milestone_passed",
    }

    m_c_choice = 1.0 * recall(0, 4)  # reviewed within the day: recall 1.0
    core = 0.8 * (m_c_choice + 0.0) / 2 + 0.2 * 0.0
    c = phases["core"]
    assert c["mastery"] == pytest.approx(core, abs=1e-3)
    assert (c["practicals_passed"], c["practicals_total"]) == (0, 1)  # int8-ptq milestone only
    assert c["milestone_passed"] is False
    assert phases["advanced"]["mastery"] == 0.0

    topics = {t["id"]: t for t in data["topics"]}
    assert topics["latency-throughput"]["mastery"] == pytest.approx(
        (m_choice + m_short) / 2, abs=1e-3
    )
    assert topics["latency-throughput"]["accuracy"] == pytest.approx((1.0 + 0.5) / 2, abs=1e-3)
    assert topics["profiling"] == {
        "id": "profiling",
        "mastery": 0.0,
        "questions_seen": 0,
        "questions_total": 1,
        "accuracy": None,
    }
    assert "serve-and-profile" not in [t["id"] for t in data["topics"]]

    assert data["due_reviews"] == 0  # due in 5, 1 and 4 days
    assert data["streak_days"] == 2  # today (c-choice) and yesterday (f-short); gap before


def test_due_reviews_and_streak_move_with_time(history: Store) -> None:
    later = progress(history, tiny_bank(), NOW + timedelta(days=2))
    assert later["due_reviews"] == 1  # f-short was due one day after yesterday
    assert later["streak_days"] == 0


def test_plan_status_is_computed_from_phase_mastery(history: Store) -> None:
    set_plan(history, (NOW - timedelta(days=14)).date(), (NOW + timedelta(days=42)).date(), now=NOW)
    data = progress(history, tiny_bank(), NOW)
    phases = {p["id"]: p["mastery"] for p in data["phases"]}
    done = (6 * min(1, phases["foundations"] / 0.7) + 8 * min(1, phases["core"] / 0.7)) / 24
    plan = data["plan"]
    assert plan["expected_done"] == pytest.approx(14 / 56, abs=1e-3)
    assert plan["done"] == pytest.approx(done, abs=2e-3)
    assert done == pytest.approx(0.396, abs=1e-3)  # ≥ 0.25 expected + 0.10 margin
    assert plan["status"] == "ahead"
    assert (plan["week"], plan["weeks_total"], plan["days_left"]) == (3, 8, 42)
    # 56 days hold 24 roadmap weeks: foundations covers the first 14 days, so day 14 is core.
    assert plan["phase"] == "core"

    set_plan(history, (NOW - timedelta(days=50)).date(), (NOW + timedelta(days=6)).date(), now=NOW)
    plan = progress(history, tiny_bank(), NOW)["plan"]
    assert (plan["status"], plan["phase"]) == ("behind", "advanced")  # 0.40 done vs 0.89
    set_plan(history, (NOW - timedelta(days=20)).date(), (NOW + timedelta(days=36)).date(), now=NOW)
    assert progress(history, tiny_bank(), NOW)["plan"]["status"] == "on track"  # vs 0.36


def test_a_phase_is_complete_with_its_milestone_and_enough_mastery(db_url: str) -> None:
    store = fresh_store(db_url, tiny_bank())
    for qid in ("f-choice", "f-short", "f-numeric"):
        attempt(store, qid, 1.0, NOW)
        put_card(store, qid, stability=30, reviewed=NOW)
    first = {p["id"]: p for p in progress(store, tiny_bank(), NOW)["phases"]}["foundations"]
    assert first["mastery"] == pytest.approx(0.8) and first["complete"] is False
    store.record_practical_run("serve-and-profile", {"passed": True}, "path", created_at=NOW)
    then = {p["id"]: p for p in progress(store, tiny_bank(), NOW)["phases"]}["foundations"]
    assert then["mastery"] == pytest.approx(1.0) and then["complete"] is True


def test_a_plan_shorter_than_the_roadmap_warns_and_a_long_one_does_not(history: Store) -> None:
    from quiz.study.report import plan_sentence

    set_plan(history, NOW.date(), (NOW + timedelta(weeks=7)).date(), now=NOW)
    plan = progress(history, tiny_bank(), NOW)["plan"]
    assert plan["warning"].startswith("7.0 weeks left for the 24-week roadmap")
    assert "29% of its length" in plan["warning"]
    assert "Warning: 7.0 weeks left" in plan_sentence(plan)
    set_plan(history, NOW.date(), (NOW + timedelta(weeks=30)).date(), now=NOW)
    plan = progress(history, tiny_bank(), NOW)["plan"]
    assert plan["warning"] is None and "Warning" not in plan_sentence(plan)
    assert "phase: Foundations (ML Systems & Profiling)." in plan_sentence(plan)
