"""Many people answering at once on one database: answers per second, and none lost.

    python benchmarks/concurrency.py                       # SQLite in a temp dir
    python benchmarks/concurrency.py --url postgresql+psycopg://user@host/db
    python benchmarks/concurrency.py --url URL --json out.json

PROCESSES worker processes (default 8) answer ANSWERS questions each (default 50) as USERS
users (default 4, so two processes share each user and race on the same review cards). Every
answer is a real ``quiz.study.practice.submit_answer`` on a shipped choice question: grade, the
attempt, the FSRS card and its review log in one transaction. The workers open the database
and sync the bank at the same moment, wait at a common start line, then answer as fast as they
can. Afterwards each user's rows are counted through that user's own view: ``lost`` is what
should be there and isn't, ``foreign`` what is there but came from another user's process.
A worker that hits any error (a deadlock or serialization failure the store did not retry
included) exits non-zero and its message is reported. Exit status 1 if anything was lost,
foreign or failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

QUESTIONS = 10  # choice questions cycled through: a user's two processes hit the same cards
START_TIMEOUT_S = 300


def worker(url: str, user: str, index: int, answers: int, start_line: Path) -> None:
    from quiz.bank import instantiate, load_bank
    from quiz.store import open_store
    from quiz.study.practice import submit_answer

    bank = load_bank()
    store = open_store(url, user=user)
    store.sync_bank(bank)
    choices = sorted(q.id for q in bank.questions.values() if q.kind == "choice")[:QUESTIONS]
    print("ready", flush=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not start_line.exists():
        if time.monotonic() > deadline:
            raise SystemExit("the start line never appeared")
        time.sleep(0.001)
    for n in range(answers):
        instance = instantiate(bank.get(choices[n % len(choices)]), seed_of(index, n))
        submit_answer(store, instance, str(instance.key), duration_s=5.0, mode="cli")
    store.close()


def seed_of(index: int, n: int) -> int:
    """The variant seed of worker ``index``'s answer ``n``: it marks whose row is whose."""
    return index * 100_000 + n


def run(url: str, processes: int, answers: int, users: int) -> dict[str, Any]:
    from quiz.bank import load_bank
    from quiz.store import open_store

    run_id = uuid.uuid4().hex[:6]
    names = [f"bench-{run_id}-{k}" for k in range(users)]
    owner = {index: names[index % users] for index in range(processes)}
    open_store(url, user=names[0]).sync_bank(load_bank())  # migrate once, before the race
    with tempfile.TemporaryDirectory(prefix="concurrency-") as folder:
        start_line = Path(folder) / "go"
        workers = [
            subprocess.Popen(
                [sys.executable, __file__, "--worker", url, owner[i], str(i), str(answers)]
                + [str(start_line)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(processes)
        ]
        for proc in workers:  # every worker has opened the store and synced the bank
            assert proc.stdout is not None
            proc.stdout.readline()
        started = time.perf_counter()
        start_line.touch()
        outcomes = [proc.communicate(timeout=START_TIMEOUT_S) for proc in workers]
        elapsed = time.perf_counter() - started
    errors = [
        f"worker {i} ({owner[i]}): exit {proc.returncode}: "
        + (err.strip().splitlines() or ["no message"])[-1]
        for i, (proc, (_, err)) in enumerate(zip(workers, outcomes, strict=True))
        if proc.returncode != 0
    ]
    store = open_store(url, user=names[0])
    per_user = {}
    for name in names:
        expected = {
            seed_of(i, n) for i in range(processes) if owner[i] == name for n in range(answers)
        }
        view = store.as_user(name)
        seeds = [a.seed for a in view.attempts()]
        per_user[name] = {
            "attempts": len(seeds),
            "expected": len(expected),
            "lost": len(expected - set(seeds)),
            "foreign": len(set(seeds) - expected),
            "review_logs": len(view.review_logs()),
            "cards": len(view.cards()),
        }
    server = store.server()
    store.close()
    total = sum(u["attempts"] for u in per_user.values())
    return {
        "backend": f"{server['backend']} {server['version']}",
        "processes": processes,
        "answers_per_process": answers,
        "users": users,
        "seconds": round(elapsed, 3),
        "answers_stored": total,
        "answers_per_s": round(total / elapsed, 1),
        "lost": sum(u["lost"] for u in per_user.values()),
        "foreign": sum(u["foreign"] for u in per_user.values()),
        "errors": errors,
        "per_user": per_user,
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        url, user, index, answers, start_line = sys.argv[2:7]
        worker(url, user, int(index), int(answers), Path(start_line))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="database URL (default: a new SQLite file in a temp dir)")
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--answers", type=int, default=50, help="answers per process")
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the result to this JSON file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="concurrency-db-") as folder:
        os.environ.setdefault("LATENCY_QUIZ_HOME", folder)
        url = args.url or f"sqlite:///{Path(folder) / 'quiz.db'}"
        result = run(url, args.processes, args.answers, args.users)
    print(
        f"{result['backend']}: {result['processes']} processes x "
        f"{result['answers_per_process']} answers as {result['users']} users: "
        f"{result['answers_stored']} stored in {result['seconds']} s = "
        f"{result['answers_per_s']} answers/s; lost {result['lost']}, "
        f"foreign {result['foreign']}, errors {len(result['errors'])}"
    )
    for error in result["errors"]:
        print(f"  {error}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 1 if result["lost"] or result["foreign"] or result["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
