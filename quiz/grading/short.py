"""Free text graded by key points, honest about uncertainty.

Each key point has phrasings and misconceptions that contradict it. A point is *covered* by a
claim that states one of its phrasings (or denies one of its misconceptions), *contradicted* by
a claim that states a misconception (or denies a phrasing), and *missing* otherwise; matching is
per sentence and sees negation (``quiz.grading.clauses``; a line break that does not end a
sentence, as in an answer wrapped by hand, is a space). A list of terms is not a claim and earns
nothing.

score = (covered weight − contradicted weight) / total weight, clamped to 0..1.

A point covered only by a single word ("batching", "TTFT") or by words all taken from the prompt
is *named*, not stated: the word is there whichever way the sentence argues ("batching increases
latency and decreases throughput" names the batching point as well as the right answer does).
Named points count towards the score, but never decide a sure pass.

The grader is sure of a pass (no contradiction, score ≥ pass score without the named points)
and of a fail (a score below the pass score with contradictions weighing at least as much as
the covered points, or a short answer that makes none of the points). Anything else (a
substantial answer whose wording the key points do not recognise, a short one that makes some
points, a good answer with one contradicting clause, one that both states and contradicts a
point, a pass that rests on named points) is left to the user's self-check:
``needs_self_check``, and ``correct`` stays False until the user confirms the points
(``self_checked``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import NamedTuple

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
    wording = _wording(rubric.points, said)
    shield = _stated_spans(rubric.points, said, wording)
    prompt_words = set(words(instance.prompt))
    judged = [_judge_point(point, said, shield, wording, prompt_words) for point in rubric.points]
    results = tuple(j.result for j in judged)
    mixed = any(j.mixed for j in judged)
    score = score_of(results)
    contradicted = any(r.status == "contradicted" for r in results)
    named = [j.result for j in judged if j.result.status == "covered" and not j.stated]
    passed = score >= rubric.pass_score
    rests_on_names = passed and score_of(results, uncounted=named) < rubric.pass_score
    claim_words = sum(s.word_count for s in said if any(s.claim))
    against = sum(r.weight for r in results if r.status == "contradicted")
    covered = sum(r.weight for r in results if r.status == "covered")
    sure_fail = contradicted and not passed and against >= covered
    sure = (passed and not contradicted and not rests_on_names) or sure_fail
    partly = score > 0 and claim_words > 0  # right as far as it goes: maybe said differently
    unsure = not sure and (mixed or passed or partly or claim_words >= SUBSTANTIAL_WORDS)
    return Verdict(
        score,
        passed and not contradicted and not rests_on_names,
        _feedback(
            results,
            unsure=unsure,
            claims=claim_words > 0,
            only_named=named if rests_on_names else [],
        ),
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


def score_of(results: tuple[PointResult, ...], uncounted: Collection[PointResult] = ()) -> float:
    """The covered weight less the contradicted weight, as a share of all the weight;
    ``uncounted`` points are left out of the covered weight."""
    total = sum(r.weight for r in results)
    covered = sum(r.weight for r in results if r.status == "covered" and r not in uncounted)
    against = sum(r.weight for r in results if r.status == "contradicted")
    return min(1.0, max(0.0, (covered - against) / total))


Span = tuple[int, int, int]  # sentence number, first word, one past the last word
Worded = tuple[Span, tuple[str, ...]]  # where a point's phrase is stated, and its words


class _Judged(NamedTuple):
    result: PointResult
    mixed: bool  # the answer both states and contradicts the point
    stated: bool  # supported by more than a name: see the module's docstring


def _judge_point(
    point: KeyPoint,
    said: list[Sentence],
    shield: list[Span],
    wording: list[Worded],
    prompt_words: set[str],
) -> _Judged:
    stated_phrases, against = _claims(point.phrases, said, shield)
    support = bool(stated_phrases)
    stated_outright = any(_more_than_a_name(phrase, prompt_words) for phrase in stated_phrases)
    notes: list[str] = []
    for misconception in point.misconceptions:
        stated, denied = _claims(misconception.phrases, said, shield, wording)
        support |= denied
        stated_outright |= denied  # only a phrase of several words can be denied
        if stated:
            against = True
            notes.append(misconception.note)
    status: PointStatus = "contradicted" if against else ("covered" if support else "missing")
    note = " ".join(notes) if notes else ("It was denied." if against else "")
    result = PointResult(point.text, status, float(point.weight), note)
    return _Judged(result, support and against, stated_outright)


def _more_than_a_name(phrase: str, prompt_words: set[str]) -> bool:
    wanted = words(phrase)
    return len(wanted) > 1 and not set(wanted) <= prompt_words


def _stated_spans(
    points: tuple[KeyPoint, ...], said: list[Sentence], wording: list[Worded]
) -> list[Span]:
    """Where the answer states any phrase of any point (``wording``), or states or denies any
    misconception ("prefill is not memory bound" denies a misconception; its "memory bound" is
    that misconception's wording, not a denial of its own)."""
    phrases = [p for point in points for m in point.misconceptions for p in m.phrases]
    said_of = [span for phrase in phrases for span, _ in _matches(phrase, said)]
    return [span for span, _ in wording] + said_of


def _matches(phrase: str, said: list[Sentence]) -> list[tuple[Span, bool]]:
    """Each claim that mentions ``phrase``, and whether it denies it."""
    wanted = words(phrase)
    return [
        ((number, match.start, match.end), match.negated)
        for number, sentence in enumerate(said)
        for match in find(sentence, wanted)
        if match.claim
    ]


def _wording(points: tuple[KeyPoint, ...], said: list[Sentence]) -> list[Worded]:
    """Where the answer states a phrase of a point, with the phrase's words."""
    return [
        (span, tuple(words(phrase)))
        for point in points
        for phrase in point.phrases
        for span, negated in _matches(phrase, said)
        if not negated
    ]


def _claims(
    phrases: list[str],
    said: list[Sentence],
    shield: list[Span],
    wording: Sequence[Worded] = (),
) -> tuple[list[str], bool]:
    """(stated, denied): the phrases some claim states, and whether some claim denies one.
    Denying a single word denies nothing ("not the SMs"; "not memory bound" does deny). A
    denial inside a longer stated phrase of any point ("doesn't help prefill" around "help
    prefill", "no spare compute" around "spare compute"), or inside a misconception stated or
    denied ("prefill is not memory bound" around "memory bound"), is that phrase's wording,
    not a denial. Likewise a phrase stated inside a longer stated phrase of a point in ``wording``
    (a misconception's "decode is compute bound" inside "at batch 256 decode is compute
    bound", when a point has that phrase) is that phrase's wording, not a statement of its
    own."""
    stated: list[str] = []
    denied = False
    for phrase in phrases:
        wanted = tuple(words(phrase))
        one_word = len(wanted) == 1
        around = [span for span, longer in wording if _contains(longer, wanted)]
        for span, negated in _matches(phrase, said):
            if not negated:
                if not _inside_longer(span, around):
                    stated.append(phrase)
            elif not one_word and not _inside_longer(span, shield):
                denied = True
    return stated, denied


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    """Whether ``shorter`` is a run of consecutive words of ``longer``, and not all of it."""
    size = len(shorter)
    return size < len(longer) and any(
        longer[i : i + size] == shorter for i in range(len(longer) - size + 1)
    )


def _inside_longer(span: Span, shield: list[Span]) -> bool:
    number, start, end = span
    return any(
        s[0] == number and s[1] <= start and end <= s[2] and s[2] - s[1] > end - start
        for s in shield
    )


def _feedback(
    results: tuple[PointResult, ...],
    *,
    unsure: bool,
    claims: bool,
    only_named: Collection[PointResult] = (),
) -> str:
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
    if only_named:
        parts.append(
            "Named but not explained: "
            + "; ".join(r.text for r in only_named)
            + " (a term alone does not say which way it goes)."
        )
    if unsure:
        parts.append(
            "Not sure: your wording may say more than the key points recognise; "
            "check your answer against the model answer and tick the points it makes."
        )
    return " ".join(parts)
