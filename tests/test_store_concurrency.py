"""Many people answering at once: 8 processes x 50 answers as 4 users, on SQLite and on
PostgreSQL. Every row lands, no deadlock, serialization failure or locked database reaches a
user, and each user's rows are only their own. The work is benchmarks/concurrency.py's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "concurrency.py"


@pytest.mark.slow
def test_eight_processes_answering_as_four_users_lose_nothing(db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--url", db_url, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert result["errors"] == []
    assert (result["answers_stored"], result["lost"], result["foreign"]) == (400, 0, 0)
    for user in result["per_user"].values():
        # each user answered 100 times, cycling over the same 10 questions from two processes
        assert (user["attempts"], user["review_logs"], user["cards"]) == (100, 100, 10)
