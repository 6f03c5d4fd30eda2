"""The study engine: practice, mock interviews, FSRS reviews, mastery, the plan, reports and
export. Every function takes an open ``quiz.store.Store``; times are aware UTC datetimes and
``now``/``clock`` can be injected everywhere.

API (signatures other packages rely on)::

    quiz.study.practice
        submit_answer(store, instance, answer, *, duration_s, mode, session_id=None,
                      self_rating=None, now=None) -> Verdict
            # grade + attempt + FSRS review in one transaction; AnswerFormatError writes nothing
            # self_rating: "again"|"hard"|"good"|"easy" or 1..4 (used for short answers only)
        pick_questions(store, bank, *, n, phase=None, level=None, topic=None, kind=None,
                       due_first=False, exclude_kinds=("practical",), now=None, rng=None)
            -> list[tuple[Question, seed]]
        submit_practical_run(store, practical_id, result: dict, source, *, now=None) -> run id
            # stores LabResult.to_dict(); own work (workspace|path) also rates the card
    quiz.study.mock
        start_mock(store, bank, *, level, minutes, seed=None, clock=system_clock,
                   practice_mode=False) -> MockSession  # MockActiveError if one is unfinished
        MockSession: .items, .answers, .current() -> MockItem | None, .instance(bank),
                     .elapsed_s(), .remaining_s(), .time_up, .done
        record_mock_answer(store, bank, mock, answer, *, practical_result=None) -> None
            # raises MockTimeUp (a QuizError) when time ran out; "" passes on the question
        heartbeat(store, mock)            # call every HEARTBEAT_S seconds while open
        finish_mock(store, mock, *, status="finished", bank=None) -> MockReport
        resume_mock(store, session_id, *, clock=system_clock) -> MockSession
            # wall clock: time away counts (not in practice mode) and is listed in .away
        abandon_mock(store, session_id, *, clock=system_clock)  # status "abandoned"
        resume_candidates(store, *, clock=system_clock) -> list[dict]
            # {session_id, level, minutes, answered, total, remaining_s, practice_mode,
            #  started_at}
        mock_report(store, session_id, bank=None) -> MockReport (.to_dict())
    quiz.study.reviews
        due_cards(store, now=None) -> list[DueCard]; due_counts(store, now=None) -> DueCounts
        rating_for(*, score, correct, kind, duration_s, budget_s, self_rating=None) -> Rating
    quiz.study.progress
        progress(store, bank, now=None, *, roadmap=None) -> dict
            # {phases, topics, due_reviews, streak_days, plan, mocks}
    quiz.study.plan
        load_roadmap(path=None) -> Roadmap; get_plan(store) -> Plan | None
        set_plan(store, start: date, interview: date, *, now=None) -> Plan  # caps due reviews
    quiz.study.report
        write_report(store, bank, path, now=None) -> Path     # .html (charts) or .md
    quiz.study.transfer
        export_file(store, path) -> (attempts, workspaces); import_file(store, path) -> ImportReport
            # with the practical workspaces; an import writes only the missing files
        # TransferError (a QuizError) for a malformed file; nothing is changed then

Formulas and thresholds are documented where they live: mastery in ``mastery``, ratings in
``reviews``, plan status and interview-date mode in ``plan``, verdict bands and the mock
clock in ``mock``.
"""
