"""Mock interviews: drawing, saving every answer, the clock, resuming, and the report."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest

from quiz.bank import Bank
from quiz.errors import UsageError
from quiz.store import Store, open_store
from quiz.study.mock import (
    MockActiveError,
    MockSession,
    MockTimeUp,
    abandon_mock,
    band,
    finish_mock,
    heartbeat,
    mock_report,
    record_mock_answer,
    resume_candidates,
    resume_mock,
    start_mock,
)
from tests.test_study_support import T0, fresh_store, question, right_answer

TOPICS = ["profiling", "kv-cache", "quantization", "batching"]
KINDS = ["choice", "numeric", "short"]


def big_bank() -> Bank:
    questions = [
        question(
            f"{level.lower()}-{topic}-{kind}-{n}",
            kind,
            level=level,
            topic=topic,
            budget=120,
        )
        for level in ("L1", "L2", "L3")
        for topic in TOPICS
        for kind in KINDS
        for n in range(2)
    ]
    questions.append(question("big-practical", "practical", level="L2", budget=900))
    return Bank(questions)


BANK = big_bank()


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def store(db_url: str) -> Store:
    return fresh_store(db_url, BANK)


def right(mock: MockSession) -> str:
    return right_answer(mock.instance(BANK))


def test_drawing_fits_the_minutes_and_mostly_targets_the_level(store: Store) -> None:
    mock = start_mock(store, BANK, level="L2", minutes=30, seed=1, clock=FakeClock(T0))
    budgets = [i.budget_s for i in mock.items]
    assert sum(budgets) <= 30 * 60
    assert sum(budgets) > 30 * 60 - 120  # filled: nothing else would fit
    levels = Counter(i.level for i in mock.items)
    assert set(levels) <= {"L1", "L2"}
    assert levels["L2"] > levels["L1"] > 0
    assert [i.level for i in mock.items] == sorted(i.level for i in mock.items)  # warm-up first
    topics = Counter(i.topic for i in mock.items)
    assert max(topics.values()) - min(topics.values()) <= 1
    kinds = Counter(i.kind for i in mock.items if i.kind != "practical")
    assert max(kinds.values()) - min(kinds.values()) <= 1
    assert len({i.question_id for i in mock.items}) == len(mock.items)


def test_practicals_are_drawn_only_when_their_budget_fits(store: Store) -> None:
    short = start_mock(store, BANK, level="L2", minutes=10, seed=2, clock=FakeClock(T0))
    assert all(i.kind != "practical" for i in short.items)
    abandon_mock(store, short.session_id)
    long = start_mock(store, BANK, level="L2", minutes=60, seed=2, clock=FakeClock(T0))
    assert [i.kind for i in long.items].count("practical") == 1


def test_an_l1_mock_draws_only_l1_and_a_seed_repeats_the_draw(store: Store) -> None:
    mock = start_mock(store, BANK, level="L1", minutes=10, seed=5, clock=FakeClock(T0))
    assert {i.level for i in mock.items} == {"L1"}
    abandon_mock(store, mock.session_id)
    again = start_mock(store, BANK, level="L1", minutes=10, seed=5, clock=FakeClock(T0))
    assert again.items == mock.items


def test_bad_requests_are_usage_errors(store: Store) -> None:
    with pytest.raises(UsageError):
        start_mock(store, BANK, level="L9", minutes=10)
    with pytest.raises(UsageError, match="no L2 question fits in 1 minutes"):
        start_mock(store, BANK, level="L2", minutes=1)


def test_every_answer_is_saved_and_no_feedback_is_returned(db_url: str, store: Store) -> None:
    clock = FakeClock(T0)
    mock = start_mock(store, BANK, level="L2", minutes=10, seed=3, clock=clock)
    clock.advance(50)
    assert record_mock_answer(store, BANK, mock, right(mock)) is None  # type: ignore[func-returns-value]
    clock.advance(70)
    record_mock_answer(store, BANK, mock, "")  # a pass
    reopened = open_store(db_url)
    row = reopened.get_session(mock.session_id)
    assert row.status == "active" and len(row.state["answers"]) == 2
    assert row.elapsed_s == pytest.approx(120)
    attempts = reopened.attempts(session_id=mock.session_id)
    assert [a.mode for a in attempts] == ["mock", "mock"]
    assert [a.score for a in attempts] == [1.0, 0.0]
    assert [a["duration_s"] for a in row.state["answers"]] == [50, 70]


def test_the_clock_is_wall_clock_across_a_crash_and_lists_the_time_away(store: Store) -> None:
    clock = FakeClock(T0)
    mock = start_mock(store, BANK, level="L2", minutes=10, seed=3, clock=clock)
    clock.advance(30)
    record_mock_answer(store, BANK, mock, right(mock))
    clock.advance(15)
    heartbeat(store, mock)
    clock.advance(10)  # the process dies 10 s after its last save
    assert mock.elapsed_s() == pytest.approx(55)
    del mock

    clock.advance(56)  # killed for 56 s: a real interview's clock does not stop
    [candidate] = resume_candidates(store, clock=clock)
    assert candidate["answered"] == 1 and candidate["remaining_s"] == pytest.approx(600 - 111)
    resumed = resume_mock(store, candidate["session_id"], clock=clock)
    assert resumed.elapsed_s() == pytest.approx(111)
    [away] = resumed.away  # from the last save (15 s after the answer) to the resume
    assert away["seconds"] == pytest.approx(66) and away["counted_s"] == pytest.approx(66)
    clock.advance(20)
    record_mock_answer(store, BANK, resumed, right(resumed))
    assert resumed.answers[-1]["duration_s"] == pytest.approx(101)  # thinking + away + 20
    report = finish_mock(store, resumed, bank=BANK)
    assert report.away == [away] and not report.practice_mode
    assert report.elapsed_s == pytest.approx(131)


def test_a_practice_mode_mock_pauses_while_away(store: Store) -> None:
    clock = FakeClock(T0)
    mock = start_mock(store, BANK, level="L2", minutes=10, seed=3, clock=clock, practice_mode=True)
    clock.advance(40)
    heartbeat(store, mock)  # leaving saves
    clock.advance(3600)
    [candidate] = resume_candidates(store, clock=clock)
    assert candidate["practice_mode"] and candidate["remaining_s"] == pytest.approx(560)
    resumed = resume_mock(store, mock.session_id, clock=clock)
    assert resumed.elapsed_s() == pytest.approx(40)
    assert resumed.away[0]["seconds"] == 3600 and resumed.away[0]["counted_s"] == 0
    report = finish_mock(store, resumed, bank=BANK)
    assert report.practice_mode and report.away[0]["counted_s"] == 0


def test_time_running_out_while_away_ends_the_interview_on_resume(store: Store) -> None:
    clock = FakeClock(T0)
    mock = start_mock(store, BANK, level="L2", minutes=5, seed=3, clock=clock)
    clock.advance(30)
    heartbeat(store, mock)
    clock.advance(600)
    [candidate] = resume_candidates(store, clock=clock)
    assert candidate["remaining_s"] == 0
    resumed = resume_mock(store, mock.session_id, clock=clock)
    assert resumed.time_up and resumed.away[0]["counted_s"] == pytest.approx(270)
    with pytest.raises(MockTimeUp):
        record_mock_answer(store, BANK, resumed, right(resumed))


def test_one_active_mock_and_an_abandoned_one_reveals_nothing_unanswered(store: Store) -> None:
    clock = FakeClock(T0)
    first = start_mock(store, BANK, level="L2", minutes=10, seed=3, clock=clock)
    record_mock_answer(store, BANK, first, right(first))
    with pytest.raises(MockActiveError, match=f"#{first.session_id} is unfinished"):
        start_mock(store, BANK, level="L2", minutes=10, seed=4, clock=clock)
    abandon_mock(store, first.session_id, clock=clock)
    assert resume_candidates(store, clock=clock) == []
    report = mock_report(store, first.session_id, BANK)
    assert report.status == "abandoned" and report.answered == 1
    assert report.items[0]["prompt"]
    assert all(item["prompt"] is None for item in report.items[1:])  # never shown
    second = start_mock(store, BANK, level="L2", minutes=10, seed=4, clock=clock)
    assert second.session_id != first.session_id


def test_questions_answered_lately_are_drawn_last(store: Store) -> None:
    clock = FakeClock(T0)
    probe = start_mock(store, BANK, level="L1", minutes=4, seed=8, clock=clock)
    drawn = [item.question_id for item in probe.items]
    for _ in drawn:
        record_mock_answer(store, BANK, probe, right(probe))
    finish_mock(store, probe)
    again = start_mock(store, BANK, level="L1", minutes=4, seed=8, clock=clock)
    assert not set(drawn) & {item.question_id for item in again.items}


def test_an_answer_after_the_time_is_up_ends_the_interview_unscored(store: Store) -> None:
    clock = FakeClock(T0)
    mock = start_mock(store, BANK, level="L2", minutes=5, seed=4, clock=clock)
    clock.advance(200)
    record_mock_answer(store, BANK, mock, right(mock))
    clock.advance(101)
    with pytest.raises(MockTimeUp):
        record_mock_answer(store, BANK, mock, right(mock))
    assert store.get_session(mock.session_id).status == "finished"
    assert len(store.attempts(session_id=mock.session_id)) == 1
    assert resume_candidates(store, clock=clock) == []
    with pytest.raises(UsageError):
        resume_mock(store, mock.session_id, clock=clock)


def test_the_answer_on_screen_at_time_up_is_recorded_at_the_deadline(store: Store) -> None:
    clock = FakeClock(T0)
    mock = start_mock(store, BANK, level="L2", minutes=5, seed=4, clock=clock)
    clock.advance(200)
    record_mock_answer(store, BANK, mock, right(mock))
    clock.advance(160)  # 60 s past the 300 s limit
    record_mock_answer(store, BANK, mock, right(mock), at_deadline=True)
    attempts = store.attempts(session_id=mock.session_id)
    assert len(attempts) == 2 and attempts[1].correct
    assert attempts[1].duration_s == pytest.approx(100)  # counted up to the deadline only
    assert store.get_session(mock.session_id).elapsed_s == pytest.approx(300)


def test_the_report_scores_topics_levels_time_and_walks_through(store: Store) -> None:
    clock = FakeClock(T0)
    mock = start_mock(store, BANK, level="L2", minutes=10, seed=6, clock=clock)
    total = len(mock.items)
    durations = [60, 200]  # within budget, then over it
    for seconds in durations:
        clock.advance(seconds)
        record_mock_answer(store, BANK, mock, right(mock))
    clock.advance(10)
    record_mock_answer(store, BANK, mock, "")
    report = finish_mock(store, mock, bank=BANK)
    assert report.status == "finished" and report.answered == 3 and report.total == total
    assert report.score == pytest.approx(2 / total, abs=1e-4)
    assert report.verdict == band(2 / total)
    assert sum(t["total"] for t in report.per_topic.values()) == total
    first, second, passed = report.items[:3]
    assert (first["duration_s"], first["over_budget"]) == (60, False)
    assert (second["duration_s"], second["over_budget"]) == (200, True)
    assert (passed["score"], passed["answer"], passed["feedback"]) == (0.0, "", "No answer given.")
    for item in report.items:
        assert item["prompt"] and item["expected"] and item["explanation"]
    unanswered = report.items[3]
    assert unanswered["answered"] is False and unanswered["duration_s"] is None
    assert report.per_level["L1"]["verdict"] == band(report.per_level["L1"]["score"])
    assert mock_report(store, mock.session_id).to_dict()["items"][0]["expected"]


@pytest.mark.parametrize(
    ("score", "verdict"),
    [
        (1.0, "strong hire"),
        (0.85, "strong hire"),
        (0.849, "hire"),
        (0.70, "hire"),
        (0.69, "lean no hire"),
        (0.55, "lean no hire"),
        (0.54, "no hire"),
        (0.0, "no hire"),
    ],
)
def test_verdict_bands(score: float, verdict: str) -> None:
    assert band(score) == verdict


def test_a_practical_item_takes_the_labs_result(store: Store) -> None:
    clock = FakeClock(T0)
    mock = start_mock(store, BANK, level="L2", minutes=60, seed=2, clock=clock)
    while (item := mock.current()) is not None:
        clock.advance(20)
        if item.kind == "practical":
            result = {"passed": True, "score": 1.0, "device": {"device": "cpu"}}
            record_mock_answer(store, BANK, mock, "", practical_result=result)
        else:
            record_mock_answer(store, BANK, mock, right(mock))
    report = finish_mock(store, mock)
    [run] = store.practical_runs("big-practical")
    assert (run.passed, run.source, run.device) == (True, "workspace", {"device": "cpu"})
    [practical] = [i for i in report.items if i["kind"] == "practical"]
    assert practical["score"] == 1.0 and practical["answer"] == f"practical run #{run.id}"
    assert report.score == 1.0 and report.verdict == "strong hire"


def test_unavailable_practicals_are_not_drawn(store: Store) -> None:
    mock = start_mock(
        store,
        BANK,
        level="L2",
        minutes=60,
        seed=2,
        clock=FakeClock(T0),
        unavailable={"big-practical"},
    )
    assert all(i.kind != "practical" for i in mock.items)
