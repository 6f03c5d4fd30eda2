"""The app's one door to the layers below (bank, grading, store, study, lab).

Every method is synchronous and meant to run in a thread worker; a lock serialises them so two
workers never share the store at once. Modules below are imported lazily so the home screen can
draw before SQLAlchemy, pydantic and the bank are loaded. Nothing here imports torch.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quiz.errors import AnswerFormatError, UsageError
from quiz.tui.clock import Clock

if TYPE_CHECKING:
    from quiz.bank import Bank, Instance
    from quiz.grading import Verdict
    from quiz.lab.catalog import Practical
    from quiz.lab.runner import LabResult
    from quiz.store import PracticalRunRow, Store
    from quiz.study.browse import BrowseRow
    from quiz.study.mock import MockSession
    from quiz.study.self_check import PendingCheck

MAX_ANSWER_CHARS = 20_000
QUICK_RUN_TIMEOUT_S = 60


@dataclass(frozen=True)
class QuickRun:
    """``python solution.py`` in a workspace: the starter's own examples, not the grade."""

    returncode: int | None  # None: stopped at the time limit
    output: str


@dataclass(frozen=True)
class PracticeFilters:
    """What the practice setup screen chose; ``None`` means any."""

    phase: str | None = None
    level: str | None = None
    topic: str | None = None
    kind: str | None = None
    due_first: bool = False
    count: int = 10


class Backend:
    """Bank, store and clock for one app; ``open()`` must run (in a worker) before the rest."""

    def __init__(
        self,
        db_url: str | None,
        *,
        clock: Clock,
        bank_paths: Sequence[str | Path] | None = None,
        seed: int | None = None,
    ) -> None:
        self.db_url = db_url
        self.clock = clock
        self.rng = random.Random(seed)  # which questions and variants are drawn
        self.bank_paths = list(bank_paths) if bank_paths is not None else None
        self._lock = threading.RLock()
        self._bank: Bank | None = None
        self._store: Store | None = None

    @property
    def bank(self) -> Bank:
        if self._bank is None:
            raise RuntimeError("backend used before open()")
        return self._bank

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("backend used before open()")
        return self._store

    def open(self) -> None:
        """Load the bank, open (and migrate) the database and sync the bank into it."""
        from quiz.bank import load_bank
        from quiz.store import open_store

        with self._lock:
            paths = [Path(p) for p in self.bank_paths] if self.bank_paths is not None else None
            bank = load_bank(paths)
            store = open_store(self.db_url)
            store.sync_bank(bank)
            self._bank, self._store = bank, store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    # Home and progress ---------------------------------------------------------------------

    def progress(self) -> dict[str, Any]:
        """``latency-quiz progress --json``'s dict: phases, topics, due_reviews, mocks…"""
        from quiz.study.progress import progress

        with self._lock:
            return progress(self.store, self.bank, now=self.clock())

    def set_plan(self, start: date, interview: date) -> None:
        from quiz.study.plan import set_plan

        with self._lock:
            set_plan(self.store, start, interview, now=self.clock())

    def unfinished_mocks(self) -> list[dict[str, Any]]:
        from quiz.study.mock import resume_candidates

        with self._lock:
            return list(resume_candidates(self.store, clock=self.clock))

    def score_history(self) -> list[tuple[Any, float]]:
        """(time, score) of every answer, oldest first, for the progress chart; a practical's
        runs are not answers (``practical_run_count``)."""
        kinds = {q.id: q.kind for q in self.bank.questions.values()}
        with self._lock:
            return [
                (a.created_at, a.score)
                for a in self.store.attempts()
                if kinds.get(a.question_id) != "practical"
            ]

    def practical_run_count(self) -> int:
        """Runs of the user's own code (the workspace or a file), not of the reference."""
        from quiz.study.mastery import OWN_WORK_SOURCES

        with self._lock:
            return sum(r.source in OWN_WORK_SOURCES for r in self.store.practical_runs())

    # Mock interviews ---------------------------------------------------------------------

    def start_mock(self, level: str, minutes: int, *, practice_mode: bool = False) -> MockSession:
        """Raises MockActiveError while another mock is unfinished. A practical that can't run
        here (GPU-only without a GPU) is not drawn."""
        from quiz.study.mock import start_mock

        unavailable = {p.id for p in self.practicals() if not p.availability.available}
        with self._lock:
            return start_mock(
                self.store,
                self.bank,
                level=level,
                minutes=minutes,
                seed=self.rng.randrange(2**31),
                clock=self.clock,
                practice_mode=practice_mode,
                unavailable=unavailable,
            )

    def abandon_mock(self, session_id: int) -> None:
        from quiz.study.mock import abandon_mock

        with self._lock:
            abandon_mock(self.store, session_id, clock=self.clock)

    def resume_mock(self, session_id: int) -> MockSession:
        from quiz.study.mock import resume_mock

        with self._lock:
            return resume_mock(self.store, session_id, clock=self.clock)

    def mock_instance(self, mock: MockSession) -> Instance:
        return mock.instance(self.bank)

    def record_mock_answer(self, mock: MockSession, answer: str, *, final: bool) -> None:
        """Save the answer to the current question (blank passes on it, and so does this call on
        a practical item: a graded one goes through ``record_mock_practical``). ``final``: the answer on screen
        when time ran out, recorded as given at the deadline; if it cannot be read it is recorded as blank rather than holding the end open."""
        from quiz.grading import grade
        from quiz.study.mock import record_mock_answer

        answer = answer[:MAX_ANSWER_CHARS]
        instance = mock.instance(self.bank)
        if instance.kind == "practical":
            answer = ""
        elif final and answer.strip():
            try:
                grade(instance, answer)
            except AnswerFormatError:
                answer = ""
        with self._lock:
            record_mock_answer(self.store, self.bank, mock, answer, at_deadline=final)

    def mock_workspace(self, mock: MockSession) -> Path:
        """The mock's own workspace for its practical item, created from the starter on first
        use: an interview starts from the starter, not from the practical's usual workspace."""
        from quiz.lab.workspace import start_workspace

        item = mock.current()
        if item is None or item.kind != "practical":
            raise UsageError("the current mock question is not a practical")
        practical_id = mock.instance(self.bank).practical or item.question_id
        folder = self.workspace(practical_id).parent / f"mock-{mock.session_id}" / practical_id
        if not (folder / "solution.py").is_file():
            start_workspace(practical_id, folder)
        return folder

    def record_mock_practical(self, mock: MockSession, result: dict[str, Any]) -> None:
        """Save the lab's result as the answer to the mock's practical item (its score is the
        item's score); an inconclusive result counts as not passed."""
        from quiz.study.mock import record_mock_answer

        if result.get("inconclusive"):
            result = {**result, "passed": False}
        with self._lock:
            record_mock_answer(self.store, self.bank, mock, "", practical_result=result)

    def mock_heartbeat(self, mock: MockSession) -> None:
        from quiz.study.mock import heartbeat

        with self._lock:
            heartbeat(self.store, mock)

    def finish_mock(self, mock: MockSession) -> dict[str, Any]:
        from quiz.study.mock import finish_mock

        with self._lock:
            return finish_mock(self.store, mock, bank=self.bank).to_dict()

    def mock_report(self, session_id: int) -> dict[str, Any]:
        from quiz.study.mock import mock_report

        with self._lock:
            return mock_report(self.store, session_id, self.bank).to_dict()

    # Practice ------------------------------------------------------------------------------

    def topics(self) -> list[str]:
        return self.bank.topics()

    def pick_practice(self, filters: PracticeFilters) -> list[Instance]:
        from quiz.bank import instantiate
        from quiz.study.practice import pick_questions

        with self._lock:
            picks = pick_questions(
                self.store,
                self.bank,
                n=filters.count,
                phase=filters.phase,
                level=filters.level,
                topic=filters.topic,
                kind=filters.kind,
                due_first=filters.due_first,
                exclude_kinds=() if filters.kind == "practical" else ("practical",),
                now=self.clock(),
                rng=self.rng,
            )
        return [instantiate(question, seed) for question, seed in picks]

    def grade_short(self, instance: Instance, answer: str) -> tuple[Verdict, str | None]:
        """Grade a free-text answer without storing it, by the judge when one is configured;
        the notice says when it was configured but could not grade."""
        from quiz.judge import grade_answer

        return grade_answer(instance, answer[:MAX_ANSWER_CHARS])

    def submit_verdict(
        self,
        instance: Instance,
        answer: str,
        verdict: Verdict,
        *,
        duration_s: float | None,
        self_rating: str | None = None,
    ) -> Verdict:
        """Store a practice attempt graded elsewhere (a judge, or the user's self-check)."""
        from quiz.study.self_check import submit_verdict

        with self._lock:
            return submit_verdict(
                self.store,
                instance,
                answer[:MAX_ANSWER_CHARS],
                verdict,
                duration_s=duration_s,
                mode="practice",
                self_rating=self_rating,
                now=self.clock(),
            )

    def mock_self_checks(self, session_id: int) -> list[PendingCheck]:
        from quiz.study.self_check import mock_self_checks

        with self._lock:
            return mock_self_checks(self.store, self.bank, session_id)

    def apply_mock_self_check(
        self, session_id: int, index: int, covered: frozenset[int]
    ) -> Verdict:
        from quiz.study.self_check import apply_mock_self_check

        with self._lock:
            return apply_mock_self_check(self.store, self.bank, session_id, index, covered)

    def submit_practice(
        self,
        instance: Instance,
        answer: str,
        *,
        duration_s: float | None,
        self_rating: str | None = None,
    ) -> Verdict:
        """Grade and store one practice attempt (and its review)."""
        from quiz.study.practice import submit_answer

        with self._lock:
            return submit_answer(
                self.store,
                instance,
                answer[:MAX_ANSWER_CHARS],
                duration_s=duration_s,
                mode="practice",
                self_rating=self_rating,
                now=self.clock(),
            )

    def browse_rows(self) -> list[BrowseRow]:
        from quiz.study.browse import browse_rows

        with self._lock:
            return browse_rows(self.store, self.bank, now=self.clock())

    def set_question_flag(
        self, question_id: str, *, flagged: bool | None = None, suspended: bool | None = None
    ) -> None:
        with self._lock:
            self.store.set_question_flag(question_id, flagged=flagged, suspended=suspended)

    def question_instance(self, question_id: str) -> Instance:
        """One question, a fresh variant of it, to practise from the browser."""
        from quiz.bank import instantiate

        return instantiate(self.bank.get(question_id), self.rng.randrange(2**31))

    def skip_practice(self, instance: Instance, *, duration_s: float | None) -> Verdict:
        """ "I don't know": stored as a blank attempt rated Again; the verdict shows the key."""
        from quiz.study.practice import skip_question

        with self._lock:
            return skip_question(self.store, instance, duration_s=duration_s, now=self.clock())

    # Practicals ----------------------------------------------------------------------------

    def practicals(self) -> list[Practical]:
        from quiz.lab.catalog import list_practicals

        return list_practicals()

    def practical_runs(self, practical_id: str | None = None) -> list[PracticalRunRow]:
        with self._lock:
            return list(self.store.practical_runs(practical_id))

    def hints_revealed(self, practical_id: str) -> int:
        with self._lock:
            return int(self.store.get_setting(f"hints.{practical_id}", 0) or 0)

    def reveal_hint(self, practical_id: str, total: int) -> int:
        """Reveal one more hint (up to ``total``) and return how many are now revealed."""
        with self._lock:
            shown = min(self.hints_revealed(practical_id) + 1, total)
            self.store.set_setting(f"hints.{practical_id}", shown)
            return shown

    def start_workspace(self, practical_id: str) -> Path:
        from quiz.lab.workspace import start_workspace

        return start_workspace(practical_id)

    def workspace(self, practical_id: str) -> Path:
        """Where the practical's workspace is (it may not exist yet)."""
        from quiz.lab.workspace import default_workspace

        return default_workspace(practical_id)

    def run_lab(
        self,
        practical_id: str,
        folder: Path,
        *,
        on_log: Callable[[str], None],
        cancel: threading.Event,
    ) -> LabResult:
        """Grade the workspace ``folder`` in the lab's worker subprocess; nothing is stored."""
        from quiz.lab.runner import grade_practical

        if not (folder / "solution.py").is_file():
            raise UsageError(f"no workspace for {practical_id} yet: create it first (w)")
        return grade_practical(
            practical_id, folder, source="workspace", on_log=on_log, cancel=cancel
        )

    def quick_run(self, folder: Path, *, timeout_s: float = QUICK_RUN_TIMEOUT_S) -> QuickRun:
        """Run ``python solution.py`` in ``folder`` in a subprocess (never in this process)."""
        try:
            done = subprocess.run(
                [sys.executable, "solution.py"],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as expired:
            partial = expired.stdout or ""
            text = partial.decode(errors="replace") if isinstance(partial, bytes) else partial
            return QuickRun(None, text + f"\nstopped after {timeout_s:g} s")
        return QuickRun(done.returncode, (done.stdout or "") + (done.stderr or ""))

    def grade_practical(
        self, practical_id: str, *, on_log: Callable[[str], None], cancel: threading.Event
    ) -> LabResult:
        """Grade the workspace copy in the lab's worker subprocess and store the run."""
        from quiz.study.practice import submit_practical_run

        result = self.run_lab(
            practical_id, self.workspace(practical_id), on_log=on_log, cancel=cancel
        )
        with self._lock:
            submit_practical_run(
                self.store, practical_id, result.to_dict(), "workspace", now=self.clock()
            )
        return result
