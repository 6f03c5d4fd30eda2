"""The cohort view: everyone on one database side by side, for a teacher or a hiring team.

``cohort(store, bank)`` is the dict behind ``latency-quiz team progress --json``: per user,
phase mastery, questions seen, mock interviews with their verdict bands and the practicals
passed with the environment they were measured on, for everyone who has answered a question,
started a session or run a practical; then the group's weakest topics (mean
topic mastery over the users who have answered a question of that topic). Each user's numbers
come from the same ``quiz.study.progress`` the user sees, through ``Store.as_user``.
``write_cohort_report`` renders it as one self-contained HTML page.
"""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quiz.errors import QuizError, UsageError
from quiz.store import Store
from quiz.study.mastery import OWN_WORK_SOURCES
from quiz.study.progress import progress
from quiz.study.report import STYLE, device_label
from quiz.study.reviews import utc

if TYPE_CHECKING:
    from quiz.bank import Bank

GROUP_WEAKEST = 5
DIGITS = 3


def cohort(store: Store, bank: Bank, now: datetime | None = None) -> dict[str, Any]:
    """``{generated_at, users: [...], weakest_topics: [...]}``; see the module docstring."""
    now = utc(now)
    views = [store.as_user(name) for name in store.users()]
    users = [_member(view, bank, now) for view in views if _has_studied(view)]
    return {
        "generated_at": now.isoformat(timespec="seconds"),
        "users": [member for member, _ in users],
        "weakest_topics": _group_weakest([topics for _, topics in users]),
    }


def _has_studied(view: Store) -> bool:
    """Opening the database (say, to run ``team report``) makes a user; studying makes a member."""
    return bool(view.attempts() or view.list_sessions() or view.practical_runs())


def _member(view: Store, bank: Bank, now: datetime) -> tuple[dict[str, Any], list[Any]]:
    summary = progress(view, bank, now)
    attempts = view.attempts()
    passed: dict[str, Any] = {}
    for run in view.practical_runs():  # oldest first: the newest passing run of each stays
        if run.passed and run.source in OWN_WORK_SOURCES:
            passed[run.practical_id] = run
    last = max((a.created_at for a in attempts), default=None)
    member = {
        "user": view.user,
        "answers": len(attempts),
        "questions_seen": len({a.question_id for a in attempts if a.mode != "practical"}),
        "questions_total": sum(1 for q in bank.questions.values() if q.kind != "practical"),
        "last_active": last.isoformat(timespec="minutes") if last else None,
        "phases": [
            {key: phase[key] for key in ("id", "name", "mastery", "complete")}
            for phase in summary["phases"]
        ],
        "mocks": [
            {key: mock[key] for key in ("started_at", "level", "minutes", "score", "verdict")}
            for mock in summary["mocks"]
            if mock["status"] == "finished"
        ],
        "practicals_passed": [
            {
                "practical": run.practical_id,
                "score": run.score,
                "when": run.created_at.isoformat(timespec="minutes"),
                "environment": device_label(run.device),
            }
            for run in sorted(passed.values(), key=lambda r: r.practical_id)
        ],
    }
    return member, [t for t in summary["topics"] if t["questions_seen"]]


def _group_weakest(per_user_topics: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    values: dict[str, list[float]] = {}
    for topics in per_user_topics:
        for topic in topics:
            values.setdefault(topic["id"], []).append(topic["mastery"])
    ranked = sorted(values.items(), key=lambda item: (sum(item[1]) / len(item[1]), item[0]))
    return [
        {"topic": topic, "mastery": round(sum(v) / len(v), DIGITS), "users": len(v)}
        for topic, v in ranked[:GROUP_WEAKEST]
    ]


def write_cohort_report(
    store: Store, bank: Bank, path: Path, now: datetime | None = None
) -> dict[str, Any]:
    """Write the cohort as an HTML page at ``path``; returns the cohort dict it shows."""
    if path.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"the cohort report file must end in .html, not {path.name!r}")
    data = cohort(store, bank, now)
    try:
        path.write_text(render_cohort_html(data, store.shown), encoding="utf-8")
    except OSError as err:
        raise QuizError(f"cannot write {path}: {err.strerror}") from None
    return data


def percent(value: float | None) -> str:
    return "—" if value is None else f"{round(100 * value)}%"


def _when(iso: str | None) -> str:
    """'2026-12-01 22:16 UTC' from an ISO time in UTC."""
    if iso is None:
        return "never"
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(header: list[str], rows: list[list[Any]], empty: str) -> str:
    if not rows:
        return f"<p>{_e(empty)}</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


INTRO = (
    "Everyone who studies on this database, side by side. <b>Mastery</b> (0–100%) mixes how "
    "well each question was answered lately with how well it is likely to be remembered today; "
    "a phase also counts the hands-on practicals passed. A <b>mock interview</b> is a timed "
    "set of questions scored as a whole; its verdict band is strong hire (85% and up), hire "
    "(70%), lean no hire (55%) or no hire. A <b>practical</b> is a coding task graded on real "
    "timing measurements; the environment column says which machine measured it."
)


def render_cohort_html(data: dict[str, Any], database: str) -> str:
    users = data["users"]
    phase_names = [p["name"] for p in users[0]["phases"]] if users else []
    overview = _table(
        ["User", "Answers", "Questions seen", *phase_names, "Mocks finished", "Practicals passed"],
        [
            [
                u["user"],
                u["answers"],
                f"{u['questions_seen']} of {u['questions_total']}",
                *(
                    percent(p["mastery"]) + (" ✓ complete" if p["complete"] else "")
                    for p in u["phases"]
                ),
                len(u["mocks"]),
                len(u["practicals_passed"]),
            ]
            for u in users
        ],
        "Nobody has used this database yet.",
    )
    weakest = _table(
        ["Topic", "Mean mastery", "Users who answered it"],
        [[t["topic"], percent(t["mastery"]), t["users"]] for t in data["weakest_topics"]],
        "No topic has been answered yet.",
    )
    sections = [_user_section(u) for u in users]
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Cohort progress</title><style>{STYLE}</style></head><body>"
        "<h1>Cohort progress</h1>"
        f"<p class='meta'>{len(users)} users on {_e(database)} · generated "
        f"{_e(_when(data['generated_at']))}</p><p>{INTRO}</p>"
        f"<h2>Overview</h2>{overview}<h2>Weakest topics of the group</h2>{weakest}"
        + "".join(sections)
        + "</body></html>"
    )


def _user_section(user: dict[str, Any]) -> str:
    mocks = _table(
        ["Started", "Level", "Minutes", "Score", "Verdict"],
        [
            [m["started_at"], m["level"], m["minutes"], percent(m["score"]), m["verdict"]]
            for m in user["mocks"]
        ],
        "No finished mock interview.",
    )
    practicals = _table(
        ["Practical", "Score", "Passed on", "Environment"],
        [
            [p["practical"], percent(p["score"]), _when(p["when"]), p["environment"]]
            for p in user["practicals_passed"]
        ],
        "No practical passed yet.",
    )
    return (
        f"<h2>{_e(user['user'])}</h2>"
        f"<p>{user['answers']} answer{'' if user['answers'] == 1 else 's'}; last active {_e(_when(user['last_active']))}.</p>"
        f"<h3>Mock interviews</h3>{mocks}<h3>Practicals passed</h3>{practicals}"
    )
