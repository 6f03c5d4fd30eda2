"""``latency-quiz report``: a progress report to keep or show, as one self-contained HTML file
(charts embedded as PNG data) or as Markdown (tables, no images).

Sections: the plan, mastery per phase, accuracy over time, review activity, weakest topics,
mock interviews with their verdicts, and practical results with the device they ran on.
"""

from __future__ import annotations

import base64
import html
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quiz import __version__
from quiz.errors import QuizError, UsageError
from quiz.store import Store
from quiz.study import charts
from quiz.study.plan import COMPLETE_MASTERY
from quiz.study.progress import progress
from quiz.study.reviews import utc

if TYPE_CHECKING:
    from quiz.bank import Bank

WEAKEST = 5
SECTIONS = {
    "plan": "Plan",
    "mastery": "Mastery per phase",
    "accuracy": "Accuracy over time",
    "reviews": "Review activity",
    "weakest": "Weakest topics",
    "mocks": "Mock interviews",
    "practicals": "Practical results",
}


@dataclass(frozen=True)
class ReportData:
    generated_at: datetime
    progress: dict[str, Any]
    daily_accuracy: list[tuple[date, float, int]]  # day, mean score, answers
    reviews_per_day: dict[date, int]
    weakest: list[dict[str, Any]]
    practical_runs: list[dict[str, Any]]


def collect(store: Store, bank: Bank, now: datetime | None = None) -> ReportData:
    now = utc(now)
    scores: dict[date, list[float]] = defaultdict(list)
    for attempt in store.attempts():
        scores[attempt.created_at.date()].append(attempt.score)
    summary = progress(store, bank, now)
    seen = [t for t in summary["topics"] if t["questions_seen"]]
    runs = [
        {
            "when": run.created_at.strftime("%Y-%m-%d %H:%M"),
            "practical": run.practical_id,
            "source": run.source,
            "passed": run.passed,
            "score": run.score,
            "duration_s": run.duration_s,
            "device": device_label(run.device),
        }
        for run in reversed(store.practical_runs())
    ]
    return ReportData(
        generated_at=now,
        progress=summary,
        daily_accuracy=[(d, sum(s) / len(s), len(s)) for d, s in sorted(scores.items())],
        reviews_per_day=dict(Counter(log.reviewed_at.date() for log in store.review_logs())),
        weakest=sorted(seen, key=lambda t: t["mastery"])[:WEAKEST],
        practical_runs=runs,
    )


def device_label(stamp: dict[str, Any]) -> str:
    """'NVIDIA H100 80GB HBM3 (cuda, torch 2.13.0)' from a lab device stamp."""
    name = stamp.get("device_name") or (stamp.get("gpu") or {}).get("name") or "unknown device"
    details = [str(stamp["device"])] if stamp.get("device") else []
    if stamp.get("torch"):
        details.append(f"torch {stamp['torch']}")
    return f"{name} ({', '.join(details)})" if details else str(name)


def write_report(store: Store, bank: Bank, path: Path, now: datetime | None = None) -> Path:
    """Write the report; the format follows the suffix (.html / .htm or .md)."""
    suffix = path.suffix.lower()
    if suffix not in (".html", ".htm", ".md"):
        raise UsageError(f"the report file must end in .html or .md, not {path.name!r}")
    data = collect(store, bank, now)
    text = render_html(data) if suffix in (".html", ".htm") else render_markdown(data)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise QuizError(f"cannot write {path}: {err.strerror}") from None
    return path


# -- HTML ---------------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; }
h1 { margin-bottom: 0.2rem; } .meta { color: #777; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.7rem; text-align: left; }
th { background: #f4f4f4; } img { max-width: 100%; } .pass { color: #2e8b57; }
.fail { color: #c0504d; }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _img(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{encoded}">'


def _table(header: list[str], rows: list[list[Any]], empty: str) -> str:
    if not rows:
        return f"<p>{_e(empty)}</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(data: ReportData) -> str:
    p = data.progress
    parts = {
        "plan": f"<p>{_e(plan_sentence(p['plan']))}</p>",
        "mastery": _img(charts.mastery_bars(p["phases"], COMPLETE_MASTERY), "mastery per phase")
        + _table(*_phase_rows(p["phases"]), "no phases"),
        "accuracy": _img(charts.accuracy_over_time(data.daily_accuracy), "accuracy over time"),
        "reviews": _img(
            charts.review_heatmap(data.reviews_per_day, data.generated_at.date()),
            "review activity heatmap",
        )
        + f"<p>{p['due_reviews']} reviews due now; streak {p['streak_days']} days.</p>",
        "weakest": _img(charts.weakest_topics(data.weakest), "weakest topics")
        + _table(*_topic_rows(data.weakest), "No topic practised yet."),
        "mocks": _table(*_mock_rows(p["mocks"]), "No mock interview yet."),
        "practicals": _table(*_practical_rows(data.practical_runs), "No practical run yet."),
    }
    sections = "".join(
        f'<section id="{key}"><h2>{_e(SECTIONS[key])}</h2>{parts[key]}</section>'
        for key in SECTIONS
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>latency-quiz progress report</title>"
        f"<style>{STYLE}</style></head><body><h1>latency-quiz progress report</h1>"
        f'<p class="meta">{_e(_generated(data))}</p>{sections}</body></html>\n'
    )


# -- Markdown -----------------------------------------------------------------------------------


def _md_table(header: list[str], rows: list[list[Any]], empty: str) -> str:
    if not rows:
        return empty
    cells = [[str("" if c is None else c).replace("|", "\\|") for c in row] for row in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def render_markdown(data: ReportData) -> str:
    p = data.progress
    recent = data.daily_accuracy[-14:]
    parts = {
        "plan": plan_sentence(p["plan"]),
        "mastery": _md_table(*_phase_rows(p["phases"]), "No phases."),
        "accuracy": _md_table(
            ["day", "answers", "mean score"],
            [[d.isoformat(), n, f"{s:.0%}"] for d, s, n in recent],
            "No answers yet.",
        ),
        "reviews": f"{sum(data.reviews_per_day.values())} reviews on "
        f"{len(data.reviews_per_day)} days; {p['due_reviews']} due now; "
        f"streak {p['streak_days']} days.",
        "weakest": _md_table(*_topic_rows(data.weakest), "No topic practised yet."),
        "mocks": _md_table(*_mock_rows(p["mocks"]), "No mock interview yet."),
        "practicals": _md_table(*_practical_rows(data.practical_runs), "No practical run yet."),
    }
    body = "\n\n".join(f"## {SECTIONS[key]}\n\n{parts[key]}" for key in SECTIONS)
    return f"# latency-quiz progress report\n\n_{_generated(data)}_\n\n{body}\n"


# -- shared rows --------------------------------------------------------------------------------


def _generated(data: ReportData) -> str:
    return f"Generated {data.generated_at:%Y-%m-%d %H:%M} UTC by latency-quiz {__version__}"


def plan_sentence(plan: dict[str, Any]) -> str:
    if not plan.get("start"):
        return "No plan set (latency-quiz plan --start DATE --interview DATE)."
    days = plan["days_left"]
    sentence = (
        f"Interview on {plan['interview']} ({days} day{'' if days == 1 else 's'} left). "
        f"Week {plan['week']} of {plan['weeks_total']}, "
        f"phase: {plan['phase_name']} ({plan['phase_title']}). "
        f"Progress {plan['done']:.0%} against {plan['expected_done']:.0%} expected: "
        f"{plan['status']}."
    )
    return f"{sentence} Warning: {plan['warning']}" if plan.get("warning") else sentence


def _phase_rows(phases: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    header = ["phase", "mastery", "questions seen", "practicals passed", "milestone", "complete"]
    rows = [
        [
            p["name"],
            f"{p['mastery']:.0%}",
            f"{p['questions_seen']}/{p['questions_total']}",
            f"{p['practicals_passed']}/{p['practicals_total']}",
            f"{p['milestone']} ({'passed' if p['milestone_passed'] else 'not yet'})",
            "yes" if p["complete"] else "no",
        ]
        for p in phases
    ]
    return header, rows


def _topic_rows(topics: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    header = ["topic", "mastery", "recent accuracy", "questions seen"]
    rows = [
        [
            t["id"],
            f"{t['mastery']:.0%}",
            "—" if t["accuracy"] is None else f"{t['accuracy']:.0%}",
            f"{t['questions_seen']}/{t['questions_total']}",
        ]
        for t in topics
    ]
    return header, rows


def _mock_rows(mocks: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    header = ["started", "level", "minutes", "answered", "score", "verdict", "status"]
    rows = [
        [
            m["started_at"][:16].replace("T", " "),
            m["level"],
            m["minutes"],
            f"{m['answered']}/{m['total']}",
            f"{m['score']:.0%}",
            m["verdict"] or "—",
            m["status"],
        ]
        for m in mocks
    ]
    return header, rows


def _practical_rows(runs: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    header = ["when", "practical", "source", "result", "score", "duration", "device"]
    rows = [
        [
            r["when"],
            r["practical"],
            r["source"],
            "passed" if r["passed"] else "failed",
            f"{r['score']:.0%}",
            "—" if r["duration_s"] is None else f"{r['duration_s']:.0f} s",
            r["device"],
        ]
        for r in runs
    ]
    return header, rows
