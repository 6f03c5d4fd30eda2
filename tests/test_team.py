"""The cohort view: every user on one database, side by side (team progress / team report)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quiz.bank import instantiate
from quiz.cli import main
from quiz.store import Store
from quiz.study.practice import submit_answer
from quiz.study.progress import progress
from quiz.study.team import cohort, write_cohort_report
from tests.test_study_support import T0, build_history, fresh_store, right_answer, tiny_bank

BANK = tiny_bank()


@pytest.fixture
def cohort_store(db_url: str) -> Store:
    """alice has weeks of history (practice, a finished mock, a passed practical, a plan); bob
    answered f-choice right and c-numeric wrong; carol only opened the database."""
    alice = fresh_store(db_url, BANK).as_user("alice")
    build_history(alice, BANK)
    bob = alice.as_user("bob")
    for qid, answer in (("f-choice", None), ("c-numeric", "1 KiB")):
        instance = instantiate(BANK.get(qid), 0)
        text = answer or right_answer(instance)
        submit_answer(bob, instance, text, duration_s=20, mode="practice", now=T0)
    alice.as_user("carol")
    return alice


def test_each_member_has_their_own_numbers_and_only_members_are_listed(
    cohort_store: Store,
) -> None:
    data = cohort(cohort_store, BANK, now=T0)
    users = {u["user"]: u for u in data["users"]}
    assert set(users) == {"alice", "bob"}  # carol never studied
    alice, bob = users["alice"], users["bob"]
    assert alice["answers"] == len(cohort_store.attempts())
    assert bob["answers"] == 2 and bob["questions_seen"] == 2
    assert bob["mocks"] == [] and bob["practicals_passed"] == []
    [mock] = alice["mocks"]
    assert mock["verdict"] in {"strong hire", "hire", "lean no hire", "no hire"}
    [run] = alice["practicals_passed"]
    assert run["practical"] == "serve-and-profile"
    assert run["environment"] == "Test CPU 9000 (cpu, torch 2.13.0)"
    assert [p["id"] for p in bob["phases"]] == ["foundations", "core", "advanced"]
    assert next(p for p in bob["phases"] if p["id"] == "foundations")["mastery"] > 0


def test_the_groups_weakest_topics_average_over_who_answered_them(cohort_store: Store) -> None:
    weakest = cohort(cohort_store, BANK, now=T0)["weakest_topics"]
    seen: dict[str, list[float]] = {}
    for name in ("alice", "bob"):
        for topic in progress(cohort_store.as_user(name), BANK, T0)["topics"]:
            if topic["questions_seen"]:
                seen.setdefault(topic["id"], []).append(topic["mastery"])
    expected = sorted((round(sum(v) / len(v), 3), topic, len(v)) for topic, v in seen.items())[:5]
    assert [(t["mastery"], t["topic"], t["users"]) for t in weakest] == expected
    kv_cache = next(t for t in weakest if t["topic"] == "kv-cache")
    assert kv_cache["mastery"] < 0.5  # bob got it wrong; alice never answered it right


def test_the_html_report_explains_itself_and_shows_everyone(
    cohort_store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "cohort.html"
    write_cohort_report(cohort_store, BANK, path, now=T0)
    page = path.read_text(encoding="utf-8")
    for text in ("Cohort progress", "alice", "bob", "verdict band", "Weakest topics of the group"):
        assert text in page
    assert "Test CPU 9000 (cpu, torch 2.13.0)" in page and "carol" not in page


def test_the_cli_prints_and_writes_the_cohort(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for user, answer in (("alice", "B"), ("bob", "A")):
        assert (
            main(["--db", db_url, "--user", user, "answer", "flashattention-io-awareness", answer])
            == 0
        )
    capsys.readouterr()
    assert main(["--db", db_url, "team", "progress", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [u["user"] for u in data["users"]] == ["alice", "bob"]
    assert all(u["answers"] == 1 for u in data["users"])
    assert main(["--db", db_url, "team", "progress"]) == 0
    out = capsys.readouterr().out
    assert "alice: 1 answer," in out and "Weakest topics of the group: attention" in out
    report = tmp_path / "cohort.html"
    assert main(["--db", db_url, "team", "report", "-o", str(report)]) == 0
    assert "bob" in report.read_text(encoding="utf-8")
    assert main(["--db", db_url, "team", "report", "-o", str(tmp_path / "c.md")]) == 2
    assert "must end in .html" in capsys.readouterr().err
