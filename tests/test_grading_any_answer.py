"""Any text typed as an answer to any question of the shipped bank is graded, or refused with
a one-line reason (a QuizError): a bad answer never crashes the grader (README: bad input gets a
clear error and loses nothing)."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from quiz import config
from quiz.bank import instantiate, load_bank
from quiz.errors import QuizError
from quiz.grading import grade

BANK = load_bank([config.bank_dir()])
ANSWERABLE = sorted(
    question_id for question_id in BANK.questions if BANK.get(question_id).kind != "practical"
)
TYPED = st.text(alphabet="ABCDEFGabcxyz0123456789.,;: eE+-*/^()%$µmsGiBTkM\n", max_size=40)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(ANSWERABLE), st.integers(min_value=0, max_value=999), TYPED)
# A unit after a number with a line break in it was refused in two lines ("unknown unit 'A)",
# then "0'"): the message now shows the unit as a repr, escapes and all.
@example("attention-scores-hbm-bytes", 0, "0+0A)\n0")
def test_any_answer_is_graded_or_refused_with_a_reason(
    question_id: str, seed: int, answer: str
) -> None:
    instance = instantiate(BANK.get(question_id), seed=seed)
    try:
        verdict = grade(instance, answer)
    except QuizError as err:
        assert str(err) and "\n" not in str(err)
        return
    assert 0.0 <= verdict.score <= 1.0
