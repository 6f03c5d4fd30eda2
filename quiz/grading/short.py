"""Free text graded by key points, honest about uncertainty.

Each key point has phrasings and misconceptions that contradict it. A point is *covered* by a
claim that states one of its phrasings (or denies one of its misconceptions), *contradicted* by
a claim that states a misconception (or denies a phrasing), and *missing* otherwise; matching is
per sentence and sees negation (``quiz.grading.clauses``). A list of terms is not a claim and
earns nothing.

score = (covered weight − contradicted weight) / total weight, clamped to 0..1.

The grader is sure of a pass (no contradiction, score ≥ pass score) and of a fail (a
contradiction and a score below the pass score, or too few words of claims to be an answer).
Anything else (a substantial answer whose wording the key points do not recognise, or one that
both states and contradicts a point) is left to the user's self-check: ``needs_self_check``,
and ``correct`` stays False until the user confirms the points (``self_checked``).
"""

from __future__ import annotations

from collections.abc import Collection

from quiz.bank import Instance, Rubric
from quiz.bank.schema import KeyPoint
from quiz.errors import AnswerFormatError
from quiz.grading.clauses import Sentence, find, sentences, words
from quiz.grading.verdict import PointResult, PointStatus, Verdict

SUBSTANTIAL_WORDS = 12  # an answer with this many words of claims deserves a second look


def rubric_of(instance: Instance) -> Rubric:
    if not isinstance(instance.key, Rubric):
        raise TypeError(f"{instance.question_id} has no key points")
    return instance.key


def grade(instance: Instance, answer: str) -> Verdict:
    rubric = rubric_of(instance)
    if not answer.strip():
        raise AnswerFormatError("the answer is empty: write a few sentences")
    said = sentences(answer)
    judged = [_judge_point(point, said) for point in rubric.points]
    results = tuple(result for result, _ in judged)
    mixed = any(both for _, both in judged)
    score = score_of(results)
    contradicted = any(r.status == "contradicted" for r in results)
    passed = score >= rubric.pass_score
    claim_words = sum(s.word_count for s in said if any(s.claim))
    against = sum(r.weight for r in results if r.status == "contradicted")
    covered = sum(r.weight for r in results if r.status == "covered")
    sure_fail = contradicted and not passed and (not mixed or against >= covered)
    sure = (passed and not contradicted) or sure_fail
    unsure = not sure and (mixed or passed or claim_words >= SUBSTANTIAL_WORDS)
    return Verdict(
        score,
        passed and not contradicted,
        _feedback(results, unsure=unsure, claims=claim_words > 0),
        rubric.model,
        results,
        unsure,
    )


def self_checked(instance: Instance, covered: Collection[int]) -> Verdict:
    """The verdict when the user confirms which key points (by index) their answer covers."""
    rubric = rubric_of(instance)
    results = tuple(
        PointResult(p.text, "covered" if i in covered else "missing", float(p.weight))
        for i, p in enumerate(rubric.points)
    )
    score = score_of(results)
    count = f"{len(set(covered) & set(range(len(results))))} of {len(results)}"
    return Verdict(
        score,
        score >= rubric.pass_score,
        f"Self-checked: {count} key points covered.",
        rubric.model,
        results,
    )


def from_statuses(
    instance: Instance, statuses: list[PointStatus], source: str, *, unsure: bool = False
) -> Verdict:
    """A verdict from per-point statuses decided elsewhere (a judge model)."""
    rubric = rubric_of(instance)
    results = tuple(
        PointResult(p.text, status, float(p.weight))
        for p, status in zip(rubric.points, statuses, strict=True)
    )
    score = score_of(results)
    contradicted = "contradicted" in statuses
    return Verdict(
        score,
        score >= rubric.pass_score and not contradicted and not unsure,
        f"{source}: " + _feedback(results, unsure=unsure, claims=True),
        rubric.model,
        results,
        unsure,
    )


def score_of(results: tuple[PointResult, ...]) -> float:
    total = sum(r.weight for r in results)
    covered = sum(r.weight for r in results if r.status == "covered")
    against = sum(r.weight for r in results if r.status == "contradicted")
    return min(1.0, max(0.0, (covered - against) / total))


def _judge_point(point: KeyPoint, said: list[Sentence]) -> tuple[PointResult, bool]:
    """The point's status, and whether the answer both states and contradicts it."""
    support, against = _claims(point.phrases, said)
    notes: list[str] = []
    for misconception in point.misconceptions:
        stated, denied = _claims(misconception.phrases, said)
        support |= denied
        if stated:
            against = True
            notes.append(misconception.note)
    status: PointStatus = "contradicted" if against else ("covered" if support else "missing")
    note = " ".join(notes) if notes else ("It was denied." if against else "")
    return PointResult(point.text, status, float(point.weight), note), support and against


def _claims(phrases: list[str], said: list[Sentence]) -> tuple[bool, bool]:
    """(stated, denied): whether some claim states, and whether some claim denies, a phrase.
    Denying a single word denies nothing. A denial inside a longer stated phrase ("no spare compute" around "spare compute") is the
    longer phrase's own wording, not a denial."""
    stated: list[tuple[int, int, int]] = []
    denied: list[tuple[int, int, int]] = []
    for phrase in phrases:
        wanted = words(phrase)
        for number, sentence in enumerate(said):
            for match in find(sentence, wanted):
                if not match.claim:
                    continue
                span = (number, match.start, match.end)
                if not match.negated:
                    stated.append(span)
                elif len(wanted) > 1:  # "not the SMs" denies no point; "not memory bound" does
                    denied.append(span)
    real_denials = [
        d for d in denied if not any(s[0] == d[0] and s[1] <= d[1] and d[2] <= s[2] for s in stated)
    ]
    return bool(stated), bool(real_denials)


def _feedback(results: tuple[PointResult, ...], *, unsure: bool, claims: bool) -> str:
    parts: list[str] = []
    for status, label in (("covered", "Covered"), ("missing", "Missing")):
        named = [r.text for r in results if r.status == status]
        if named:
            parts.append(f"{label}: " + "; ".join(named) + ".")
    parts += [
        f"Contradicted: {r.text}. {r.note}".strip() for r in results if r.status == "contradicted"
    ]
    if not claims:
        parts.append("A list of terms makes no claim: say what each one does and why.")
    if unsure:
        parts.append(
            "Not sure: your wording may say more than the key points recognise; "
            "check your answer against the model answer and tick the points it makes."
        )
    return " ".join(parts)
