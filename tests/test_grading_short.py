"""Short answers: key points matched per clause with negation seen, claims versus term lists,
the self-check, and honest uncertainty."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from quiz.bank import Instance, Rubric, instantiate, load_bank
from quiz.bank.schema import KeyPoint, PointMisconception
from quiz.errors import AnswerFormatError
from quiz.grading import grade
from quiz.grading.clauses import find, sentences, stem, words
from quiz.grading.short import from_statuses, self_checked

BANK = load_bank([Path(__file__).parent / "fixtures" / "bank" / "good"])
# Points: "time per request" (2), "work per unit time" (2; misconception "latency is the
# inverse of throughput"), "batching trade-off" (1); pass score 0.6.
LATENCY = instantiate(BANK.get("latency-vs-throughput"))


def statuses(answer: str) -> list[str]:
    return [point.status for point in grade(LATENCY, answer).points]


def test_an_answer_making_every_point_scores_full() -> None:
    verdict = grade(
        LATENCY,
        "Latency is how long one request takes. Throughput is requests per second, "
        "and batching raises it.",
    )
    assert (verdict.score, verdict.correct, verdict.needs_self_check) == (1.0, True, False)
    assert verdict.feedback == "Covered: time per request; work per unit time; batching trade-off."
    assert verdict.expected.startswith("Latency is the time one request takes")
    assert [p.text for p in verdict.points] == [
        "time per request",
        "work per unit time",
        "batching trade-off",
    ]


def test_score_is_the_covered_weight_share() -> None:
    verdict = grade(LATENCY, "Latency: the TIME PER REQUEST. Throughput: tokens/s.")
    assert verdict.score == pytest.approx(4 / 5)
    assert verdict.correct is True
    assert statuses("Latency: the TIME PER REQUEST. Throughput: tokens/s.") == [
        "covered",
        "covered",
        "missing",
    ]


def test_a_negated_phrase_counts_against_its_point() -> None:
    answer = "Latency is not the time one request takes; it is measured per second."
    assert statuses(answer) == ["contradicted", "covered", "missing"]
    verdict = grade(LATENCY, answer)
    assert verdict.score == 0.0 and not verdict.correct
    assert "Contradicted: time per request" in verdict.feedback


@pytest.mark.parametrize(
    "answer",
    [
        "Latency isn't the time one request takes.",
        "It is not true that latency is the time one request takes.",
        "Latency is never the time one request takes.",
        "Latency, rather than the time one request takes, is something else entirely.",
    ],
)
def test_negation_cues_are_seen(answer: str) -> None:
    assert statuses(answer)[0] == "contradicted"


def test_negation_ends_at_the_clause() -> None:
    answer = "Throughput is not latency, but latency is the time one request takes."
    assert statuses(answer)[0] == "covered"
    assert statuses("It is not slow because it is the time one request takes.")[0] == "covered"


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        ("Latency is not only the time one request takes but also its queueing.", "covered"),
        ("Latency rather than throughput is the time one request takes.", "covered"),
        ("It is throughput rather than the time one request takes.", "contradicted"),
        ("Without the time one request takes, you know nothing.", "contradicted"),
        ("The time one request takes is not needed here.", "contradicted"),
        ("The time one request takes is irrelevant for this.", "contradicted"),
        ("No matter what, latency is the time one request takes.", "covered"),
        ("Latency != the time one request takes.", "contradicted"),
        ("Latency: w/o the time one request takes.", "contradicted"),
        # "nor" denies its own clause: two cues in one clause used to cancel out
        ("It is neither throughput nor the time one request takes.", "contradicted"),
        ("It isn't throughput nor the time one request takes.", "contradicted"),
    ],
)
def test_negation_scope(answer: str, status: str) -> None:
    assert statuses(answer)[0] == status


def test_double_negation_and_denied_misconceptions_support_a_point() -> None:
    answer = "Latency is not the inverse of throughput; that only holds at batch one."
    assert statuses(answer)[1] == "covered"
    assert statuses("Latency is the inverse of throughput, you see.")[1] == "contradicted"


def test_a_misconception_contradicts_its_point_and_is_explained() -> None:
    verdict = grade(LATENCY, "Latency is the inverse of throughput, which is tokens per second.")
    assert [p.status for p in verdict.points][1] == "contradicted"
    assert verdict.points[1].note == "Only at batch 1 with no queueing."
    assert "Only at batch 1 with no queueing." in verdict.feedback
    assert not verdict.correct


def test_a_list_of_terms_makes_no_claim() -> None:
    verdict = grade(LATENCY, "time per request, per second, batching, batch size")
    assert verdict.score == 0.0 and not verdict.correct and not verdict.needs_self_check
    assert "makes no claim" in verdict.feedback


def test_a_substantial_answer_the_points_do_not_recognise_goes_to_the_self_check() -> None:
    verdict = grade(
        LATENCY,
        "Think of a restaurant: one is how quickly your own dish arrives after you order it, "
        "the other is how many dishes the kitchen sends out in an evening.",
    )
    assert verdict.needs_self_check and not verdict.correct
    assert "Not sure" in verdict.feedback
    assert not grade(LATENCY, "GPUs are fast.").needs_self_check  # too short to be an answer


def test_the_self_check_scores_the_confirmed_points() -> None:
    verdict = self_checked(LATENCY, {0, 2})
    assert verdict.score == pytest.approx(3 / 5)
    assert verdict.correct is True
    assert [p.status for p in verdict.points] == ["covered", "missing", "covered"]
    assert verdict.feedback == "Self-checked: 2 of 3 key points covered."
    assert self_checked(LATENCY, set()).score == 0.0


def test_statuses_from_a_judge_make_a_verdict() -> None:
    verdict = from_statuses(LATENCY, ["covered", "covered", "missing"], "Judge")
    assert verdict.score == pytest.approx(4 / 5) and verdict.correct
    assert verdict.feedback.startswith("Judge: Covered")
    wrong = from_statuses(LATENCY, ["covered", "covered", "contradicted"], "Judge")
    assert wrong.score == pytest.approx(3 / 5) and not wrong.correct


@pytest.mark.parametrize(
    ("phrase", "text"),
    [
        ("batching", "Batches are formed"),
        ("batch size", "with larger batch-sizes"),
        ("kv cache", "the KV-caches grow"),
        ("caching", "prefix cache hits"),
        ("quantized weights", "quantizing weight"),
        ("memory-bound", "decode is memory bound!"),
        ("queries", "every query"),
        ("stopped", "it stops"),
        ("read the weights", "reads all of the weights"),  # up to two words between
    ],
)
def test_matching_tolerates_case_punctuation_plurals_suffixes_and_small_gaps(
    phrase: str, text: str
) -> None:
    assert any(find(sentence, words(phrase)) for sentence in sentences(text))


@pytest.mark.parametrize(
    ("phrase", "text"),
    [
        ("time per request", "time it takes for a single request"),  # too far apart
        ("latency", "the latent space"),
        ("batch", "a bat"),
        ("memory bound", "memory, and bound"),  # not across a comma
    ],
)
def test_matching_is_not_a_substring_search(phrase: str, text: str) -> None:
    assert not any(find(sentence, words(phrase)) for sentence in sentences(text))


def test_stems_are_consistent() -> None:
    assert stem("batches") == stem("batching") == stem("batched") == stem("batch")
    assert stem("caches") == stem("caching") == stem("cache")
    assert stem("policies") == stem("policy")
    assert stem("bus") == "bus" and stem("class") == "class"


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        # what a metric "says nothing about" is its topic, not a denial
        ("GPU-Util says nothing about SM occupancy.", False),
        ("It does not tell anything about SM occupancy.", False),
        ("It is not SM occupancy.", True),
        ("Nothing but SM occupancy limits it.", False),  # "nothing but X": only X
    ],
)
def test_nothing_about_names_a_topic(text: str, negated: bool) -> None:
    (match,) = find(sentences(text)[0], words("SM occupancy"))
    assert match.claim and match.negated is negated


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        # a claim the answer reports and then refutes is denied, not stated
        ("The colleague claims TPOT doubles; that is wrong.", True),
        ("The colleague says TPOT doubles, which is false.", True),
        ("He thinks TPOT doubles, and it is not true.", True),
        ("The colleague claims that TPOT doubles when the batch grows; that is wrong.", True),
        ("The colleague claims TPOT doubles; that is right.", False),
        ("TPOT doubles; that is wrong.", False),  # nothing reported: the answer's own claim
        ("The colleague claims TPOT doubles; that is not the point.", False),
        ("The colleague claims TPOT doubles. That is wrong.", True),  # the next sentence
        # what people say, then a bare "it isn't" / "but it does not" / "they're wrong"
        ("People say TPOT doubles; it doesn't.", True),
        ("Some think TPOT doubles, but it does not.", True),
        ("Some think TPOT doubles but it doesn't.", True),
        ("Many assume TPOT doubles, but that's not the case.", True),
        ("People believe TPOT doubles; they're wrong.", True),
        ("It is often said that TPOT doubles, which is a myth.", True),
        ("Some think TPOT doubles. It doesn't.", True),
        ("Some think TPOT doubles. It doesn't: it stays flat.", True),  # a verdict, not a label
        ("People say TPOT doubles, and they are right.", False),
        ("People say TPOT doubles; it does.", False),
        ("People say TPOT doubles, but it does not matter.", False),  # "not" says more
        ("TPOT doubles, but it does not.", False),  # nothing reported
    ],
)
def test_a_reported_claim_then_refuted_is_denied(text: str, negated: bool) -> None:
    (match,) = find(sentences(text)[0], words("TPOT doubles"))
    assert match.claim and match.negated is negated


def test_only_a_bare_refutation_joins_the_sentence_before_it() -> None:
    assert len(sentences("The colleague claims TPOT doubles. That is wrong.")) == 1
    assert len(sentences("TPOT doubles. That is wrong.")) == 2  # nothing reported
    assert len(sentences("The colleague claims TPOT doubles. That is right.")) == 2
    assert len(sentences("He says TPOT doubles. That is wrong for prefill only.")) == 2
    assert len(sentences("Some think TPOT doubles. It doesn't.")) == 1
    assert len(sentences("Some think TPOT doubles. It doesn't for prefill.")) == 2
    assert len(sentences("Some think TPOT doubles. That's wrong: it stays flat.")) == 2


@pytest.mark.parametrize(
    ("text", "stated"),
    [
        ("The second half of the statement is right, though.", False),
        ("Part of the claim is right.", False),
        ("The statement is right.", True),
    ],
)
def test_what_is_said_of_part_of_a_statement_is_not_said_of_it(text: str, stated: bool) -> None:
    matches = find(sentences(text)[0], words("statement is right"))
    matches += find(sentences(text)[0], words("claim is right"))
    assert bool(matches) is stated
    assert find(sentences("Half of the weights are read.")[0], words("weights are read"))


@pytest.mark.parametrize(
    ("text", "phrase", "negated"),
    [
        # the object of "at", or of a preposition after "worth it" / "bother", is a condition
        ("W4A16 doesn't help at high batch.", "high batch", False),
        ("It is not worth it at small scale.", "small scale", False),
        ("Disaggregation is not worth it in small deployments.", "small deployments", False),
        ("I would not bother with short prompts.", "short prompts", False),
        ("There's no need to look at queueing.", "queueing", True),  # what one looks at
        ("It does not help with short prompts.", "short prompts", True),
        ("It is not small scale.", "small scale", True),
        # a label's colon ends a negation's reach; "not because X" denies X
        ("Not DeepMind: Medusa is by Cai et al.", "Cai et al", False),
        ("No: decode is compute-bound at batch 8.", "decode is compute-bound", False),
        ("It is faster not because of fewer FLOPs.", "fewer FLOPs", True),
        ("It is faster because of fewer bytes.", "fewer bytes", False),
        # "no more than N", "never more than N": N is a bound, not denied; the bound can be
        ("A sequence wastes no more than one block.", "one block", False),
        ("It never wastes more than part of its last block.", "last block", False),
        ("It is never more than one block.", "one block", False),
        ("It needs no fewer than eight GPUs.", "eight GPUs", False),
        ("A sequence wastes no more than one block.", "more than one block", True),
        ("It does not waste one block.", "one block", True),
    ],
)
def test_a_negation_denies_its_predicate_not_its_condition(
    text: str, phrase: str, negated: bool
) -> None:
    (match,) = find(sentences(text)[0], words(phrase))
    assert match.claim and match.negated is negated


def negations(text: str, phrase: str) -> list[bool]:
    """Whether each claim in ``text`` that mentions ``phrase`` denies it."""
    return [m.negated for s in sentences(text) for m in find(s, words(phrase)) if m.claim]


@pytest.mark.parametrize(
    ("text", "phrase", "negated"),
    [
        # "once", "as soon as", "as long as" and "beyond" open a condition, as "when" does
        (
            "Throughput doesn't grow linearly once the step is compute-bound.",
            "compute bound",
            [False],
        ),
        (
            "Throughput doesn't grow linearly once the step is compute-bound.",
            "grow linearly",
            [True],
        ),
        (
            "Cost doesn't fall as soon as the step is compute-bound.",
            "step is compute bound",
            [False],
        ),
        ("Cost doesn't fall as long as the step is memory-bound.", "step is memory bound", [False]),
        ("Cost doesn't fall beyond the ridge point.", "ridge point", [False]),
        ("Cost doesn't fall until the step is memory-bound.", "step is memory bound", [False]),
        # "once" the adverb is no condition: the negation still reaches past it
        ("It does not read the weights once per sequence.", "per sequence", [True]),
        ("The weights are not read once for each sequence.", "read once", [True]),
    ],
)
def test_a_condition_starts_a_clause_of_its_own(
    text: str, phrase: str, negated: list[bool]
) -> None:
    assert negations(text, phrase) == negated


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        # what the answer calls a myth or a misconception is denied, the whole clause of it
        ("A common misconception is that TPOT doubles.", True),
        ("A common misconception is that TPOT doubles; it doesn't.", True),
        ("It's a misconception that TPOT doubles.", True),
        ("The myth is that TPOT doubles.", True),
        ("The misconception that TPOT doubles is common.", True),
        ("It's a common misconception to think that TPOT doubles.", True),
        ("It is a myth that under load TPOT doubles.", True),
        ("It is false that under load TPOT doubles.", True),
        ("Myth: TPOT doubles with the batch.", True),
        ("Common misconception: TPOT doubles with the batch.", True),
        ("It is not a myth that TPOT doubles.", False),
        ("The problem is that TPOT doubles.", False),
        ("That's a myth: TPOT doubles with the batch.", False),  # a verdict on what came before
        ("False: TPOT doubles with the batch.", False),  # the answer to a true-or-false premise
    ],
)
def test_a_claim_called_a_myth_is_denied(text: str, negated: bool) -> None:
    assert negations(text, "TPOT doubles") == [negated]


def test_a_myth_lead_is_no_part_of_the_claim() -> None:
    # "is" of "the myth is that" does not start "is approximate"
    assert negations("The myth is that it approximates attention.", "is approximate") == []
    assert negations("The problem is that it approximates.", "is approximate") == [False]


@pytest.mark.parametrize(
    ("text", "phrase", "negated"),
    [
        # the reason for a denied comparison may be denied ("it is faster, but not for that")
        # or be the reason for the negative ("... because of the dequantization overhead"):
        # neither stated nor denied
        ("It is not faster because of fewer FLOPs.", "fewer FLOPs", []),
        ("It's not much faster because of fewer FLOPs.", "fewer FLOPs", []),
        ("It is not more efficient because of fewer FLOPs.", "fewer FLOPs", []),
        ("INT8 isn't faster because of the dequantization overhead.", "dequant overhead", []),
        ("It is not faster because of fewer FLOPs.", "faster because of fewer FLOPs", [True]),
        # nor is the reason inside a causal claim called a myth
        ("The myth is that it is faster because it does fewer FLOPs.", "fewer FLOPs", []),
        ("The myth is that it is faster because it does fewer FLOPs.", "it is faster", [True]),
        # as before: "not because X" denies X; other reasons are stated
        ("It is faster not because of fewer FLOPs.", "fewer FLOPs", [True]),
        ("It is faster because of fewer FLOPs.", "fewer FLOPs", [False]),
        ("It is not fast because of the memory traffic.", "memory traffic", [False]),
        ("It isn't faster because the KV cache is written in BF16.", "written in BF16", [False]),
    ],
)
def test_the_reason_for_a_denied_comparison_is_neither_stated_nor_denied(
    text: str, phrase: str, negated: list[bool]
) -> None:
    assert negations(text, phrase) == negated


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        # a trailing ", not X" after a claim under a condition denies X only there
        ("At large batch the step is compute bound, not memory bound.", []),
        ("At large batch, the step is compute bound, not memory bound.", []),
        ("The step is compute bound at batch 512, not memory bound.", []),
        ("Once the batch passes 300 the step is compute bound, not memory bound.", []),
        ("When the batch is large, the step is compute bound, not memory bound.", []),
        ("Beyond the ridge point it is compute bound and not memory bound.", []),
        # without a condition, or with a scope rather than a condition, X is denied
        ("Decode is compute bound, not memory bound.", [True]),
        ("In decode the step is compute bound, not memory bound.", [True]),
        ("At large batch the step is not memory bound.", [True]),  # no contrast
        ("It counts the time at least one kernel runs, not memory bound.", [True]),
    ],
)
def test_a_contrast_inherits_the_condition_of_its_claim(text: str, negated: list[bool]) -> None:
    assert negations(text, "memory bound") == negated
    assert True not in negations(text, "compute bound")  # the claim itself stands


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        # a line break within a sentence is a space: the negation reaches across it
        ("It does not make a token's KV smaller or\nattention cheaper.", True),
        ("It does not make a token's KV smaller or\r\nattention cheaper.", True),
        ("It makes\nattention cheaper.", False),
        # a break ends the sentence at a blank line, after a sentence's end, around a heading,
        # and before a list item
        ("It does not make KV smaller\n\nattention gets cheaper.", False),
        ("It does not make KV smaller.\nAttention gets cheaper.", False),
        ("# It is not KV\nattention gets cheaper.", False),
        ("**Not KV**\nattention gets cheaper.", False),
        ("It does not make KV smaller\n# attention gets cheaper", False),
        *[
            (f"{first}It does not make KV smaller\n{second}attention gets cheaper", False)
            for first, second in [
                ("- ", "- "),
                ("* ", "* "),
                ("• ", "• "),
                ("1. ", "2. "),
                ("1) ", "2) "),
                ("a) ", "b) "),
                ("", "  - "),
            ]
        ],
        ("- It does not make KV smaller or\n  attention cheaper", True),  # an item, wrapped
        # notes typed one per line: a short line before a capitalised word ends on its own,
        # unless it ends with a word that cannot end a sentence
        ("It does not make KV smaller\nAttention gets cheaper", False),
        ("It does not make KV smaller or\nAttention cheaper", True),
        ("It does not make KV smaller\nattention gets cheaper", True),
    ],
)
def test_a_line_break_ends_a_sentence_only_where_a_sentence_ends(text: str, negated: bool) -> None:
    (match,) = [m for s in sentences(text) for m in find(s, words("attention cheaper"))]
    assert match.claim and match.negated is negated


def test_a_hard_wrapped_answer_reads_as_on_one_line() -> None:
    for wrapped in [
        "It decodes pre-\ndecoded inputs 2-\n4x faster",  # a hyphen at a line's end joins
        "The speed-up carries over:\ndecode is free.",  # a colon reads as within a line
    ]:
        assert sentences(wrapped) == sentences(wrapped.replace("-\n", "-").replace("\n", " "))
    assert statuses("Latency is not the time\none request takes.")[0] == "contradicted"
    assert statuses("Latency is the inverse\nof throughput.")[1] == "contradicted"


def test_without_in_a_phrase_gap_neither_states_nor_denies_it() -> None:
    said = sentences("It is quantizing a finished model without training it again.")[0]
    assert find(said, words("finished training")) == []
    (denied,) = find(sentences("It reads no weights.")[0], words("reads weights"))
    assert denied.negated  # "no" in the gap still denies
    (stated,) = find(sentences("It runs without a draft model.")[0], words("without a draft"))
    assert not stated.negated  # "without" as the phrase's own word


def test_greek_letters_read_as_their_names() -> None:
    assert words("reduce γ; α and β") == words("reduce gamma; alpha and beta")


def _latency_with(*points: KeyPoint, pass_score: float) -> Instance:
    return dataclasses.replace(LATENCY, key=Rubric(model="m", points=points, pass_score=pass_score))


def test_pass_score_decides_correct() -> None:
    strict = _latency_with(
        KeyPoint(text="a", weight=1, phrases=["alpha is"]),
        KeyPoint(
            text="b",
            weight=1,
            phrases=["beta is"],
            misconceptions=[PointMisconception(phrases=["gamma is"], note="No.")],
        ),
        pass_score=0.5,
    )
    assert grade(strict, "alpha is here").correct is True
    assert grade(strict, "alpha is here. gamma is here").correct is False


def test_a_pass_that_rests_on_named_points_goes_to_the_self_check() -> None:
    """A single word ("batching") or the prompt's own words ("latency and throughput") are there
    whichever way the sentence argues: they count, but cannot decide a sure pass."""
    request = KeyPoint(text="time per request", weight=1, phrases=["time one request takes"])
    batching = KeyPoint(
        text="batching trade-off",
        weight=2,
        phrases=["batching", "latency and throughput", "batching raises throughput"],
    )
    named = _latency_with(request, batching, pass_score=0.6)
    wrong = grade(
        named, "Latency is the time one request takes. Batching reduces latency and throughput."
    )
    assert wrong.score == 1.0 and not wrong.correct and wrong.needs_self_check
    assert "Named but not explained: batching trade-off" in wrong.feedback
    right = grade(
        named, "Latency is the time one request takes. Batching raises throughput, at a cost."
    )
    assert right.correct and not right.needs_self_check
    assert "Named" not in right.feedback
    # a named point that the pass does not need changes nothing
    lighter = _latency_with(request, request, request, batching, pass_score=0.6)
    verdict = grade(lighter, "Latency is the time one request takes. Batching helps.")
    assert verdict.score == 1.0 and verdict.correct and not verdict.needs_self_check


def test_an_empty_answer_is_a_format_error() -> None:
    with pytest.raises(AnswerFormatError, match="empty"):
        grade(LATENCY, "   ")
