"""Bank-wide content requirements (issue 2) checked over the shipped question bank."""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from typing import Any

import pytest
import yaml

from quiz import config
from quiz.bank import KINDS, LEVELS, PHASES, Bank, Instance, Question, instantiate, load_bank
from quiz.bank.variants import NumericKey
from quiz.grading import grade

OPENING_QUESTIONS = ("latency-vs-throughput", "what-is-ptq", "what-is-a-gpu-kernel")
SEEDS = range(21)
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_BRACE = re.compile(r"[{}]")


@pytest.fixture(scope="module")
def bank() -> Bank:
    return load_bank()


@pytest.fixture(scope="module")
def facts() -> dict[str, Any]:
    with config.facts_path().open(encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.safe_load(handle)
    return data


def _parameterized_numerics(bank: Bank) -> list[Question]:
    return [q for q in bank.filter(kind="numeric") if q.parameterized]


def _sentences(text: str) -> list[str]:
    """Sentences of at least three words: a label such as "Note:" is not a sentence."""
    return [s for s in _SENTENCE_END.split(text) if len(s.split()) >= 3]


def test_bank_has_at_least_60_questions(bank: Bank) -> None:
    assert len(bank) >= 60


def test_every_phase_and_level_cell_has_three_questions(bank: Bank) -> None:
    cells: Counter[tuple[str, str]] = Counter((q.phase, q.level) for q in bank)
    thin = {
        f"{phase}/{level}": cells[(phase, level)]
        for phase in PHASES
        for level in LEVELS
        if cells[(phase, level)] < 3
    }
    assert not thin, f"cells with fewer than 3 questions: {thin}"


def test_every_kind_but_practical_is_used(bank: Bank) -> None:
    used = {q.kind for q in bank}
    missing = set(KINDS) - {"practical"} - used
    assert not missing, f"kinds without a question: {sorted(missing)}"


def test_at_least_15_parameterized_numerics(bank: Bank) -> None:
    assert len(_parameterized_numerics(bank)) >= 15


@pytest.mark.parametrize("question_id", OPENING_QUESTIONS)
def test_the_roles_opening_questions_are_short_answers(bank: Bank, question_id: str) -> None:
    question = bank.get(question_id)
    assert question.kind == "short"
    assert question.level == "L1"


def test_every_explanation_has_two_sentences(bank: Bank) -> None:
    short = [q.id for q in bank if len(_sentences(q.explanation)) < 2]
    assert not short, f"explanations under two sentences: {short}"


_LIST_ITEM = re.compile(r"^\s*(?:[-+*]|\d+[.)])\s")


def test_no_wrapped_line_turns_into_a_list_item(bank: Bank) -> None:
    """Markdown starts a list at a line opening with "+ ", "- " or "* " even mid-paragraph: a
    formula wrapped before "+ m·n" rendered as a bullet in the middle of an explanation."""
    found = []
    for q in bank:
        for field, text in (("prompt", q.prompt), ("explanation", q.explanation)):
            lines = text.splitlines()
            for before, line in zip(lines, lines[1:], strict=False):
                if _LIST_ITEM.match(line) and before.strip() and not _LIST_ITEM.match(before):
                    found.append(f"{q.id} {field}: {line.strip()[:40]}")
    assert not found, found


def test_every_question_has_a_reference(bank: Bank) -> None:
    bare = [q.id for q in bank if not any(ref.strip() for ref in q.references)]
    assert not bare, f"questions without a reference: {bare}"


def test_every_parameterized_question_instantiates_with_a_positive_key(bank: Bank) -> None:
    failures: list[str] = []
    for question in bank:
        if not question.parameterized:
            continue
        for seed in SEEDS:
            instance = instantiate(question, seed)
            key = instance.key
            if not isinstance(key, NumericKey):
                failures.append(f"{question.id}#{seed}: key is not numeric")
            elif not (math.isfinite(key.value) and key.value > 0):
                failures.append(f"{question.id}#{seed}: key {key.value!r}")
            if _BRACE.search(instance.prompt) or _BRACE.search(instance.explanation):
                failures.append(f"{question.id}#{seed}: a brace is left in the rendered text")
    assert not failures, "\n".join(failures)


def test_no_percentage_key_is_below_one_percent(bank: Bank) -> None:
    """A bare number from 0 to 1 where a percentage is asked is read as a fraction, so a key
    under 1 % would fail its own right answer typed as "0.499" (tail-latency-fanout's 0.1 %
    shards at 5-way fan-out did)."""
    low = {
        f"{question.id}#{seed}: {instance.key.value:.4g}%"
        for question in bank
        if question.kind in ("numeric", "estimate")
        for seed in range(60)
        if isinstance((instance := instantiate(question, seed)).key, NumericKey)
        and instance.key.unit == "%"
        and instance.key.value < 1
    }
    assert not low, sorted(low)


def test_parameterized_questions_vary_with_the_seed(bank: Bank) -> None:
    frozen = [
        q.id
        for q in _parameterized_numerics(bank)
        if len({instantiate(q, seed).prompt for seed in SEEDS}) < 2
    ]
    assert not frozen, f"parameterized questions that never change: {frozen}"


def test_every_model_answer_passes_its_own_rubric(bank: Bank) -> None:
    failing = {}
    for question in bank.filter(kind="short"):
        instance = instantiate(question)
        verdict = grade(instance, instance.model_answer or "")
        if not verdict.correct:
            failing[question.id] = verdict.feedback
    assert not failing, f"model answers their rubric rejects: {failing}"


def test_option_length_does_not_give_the_answer_away(bank: Bank) -> None:
    """Always picking the longest option, or ticking the longer half of a multi-select, must not
    pass: the key, being the most qualified statement, tends to be the longest (it was in 17 of
    the 23 single-choice questions, so that strategy scored 74%)."""
    chosen = [instantiate(question) for question in bank.filter(kind="choice")]
    longest = [
        instance.question_id
        for instance in chosen
        if _option_length(instance, instance.key)
        >= max(len(c.text) for c in instance.choices if c.id != instance.key)
    ]
    assert len(longest) <= 0.3 * len(chosen), f"the key is the longest option in {longest}"
    for instance in map(instantiate, bank.filter(kind="multi")):
        median = statistics.median(len(c.text) for c in instance.choices)
        longer_half = {c.id for c in instance.choices if len(c.text) > median}
        assert isinstance(instance.key, tuple)
        assert longer_half != set(instance.key), instance.question_id


def _option_length(instance: Instance, option_id: object) -> int:
    return next(len(c.text) for c in instance.choices if c.id == option_id)


def test_shared_facts_citations_name_real_entries(bank: Bank, facts: dict[str, Any]) -> None:
    broken: list[str] = []
    for question in bank:
        for reference in question.references:
            if "shared facts:" not in reference:
                continue
            paths = _cited_paths(reference, facts)
            if not paths:
                broken.append(f"{question.id}: cites no facts entry in {reference!r}")
            broken += [f"{question.id}: no facts entry '{p}'" for p in paths if not _has(facts, p)]
    assert not broken, "\n".join(broken)


def test_decode_and_prefill_keys_follow_from_the_facts(bank: Bank, facts: dict[str, Any]) -> None:
    """Recompute three families from first principles with the facts file's own numbers."""
    models, h100 = facts["models"], facts["gpus"]["H100_SXM"]
    llama3_8b = models["Llama-3-8B"]
    for seed in SEEDS:
        need = instantiate(bank.get("bandwidth-for-tpot-target"), seed)
        bytes_per_token = models[need.params["model_name"]]["total_params"] * need.params["dtype"]
        tb_per_s = bytes_per_token / (need.params["tpot_ms"] / 1e3) / 1e12
        assert _key(need, "TB/s") == pytest.approx(tb_per_s, rel=0.01)

        prefill = instantiate(bank.get("prefill-time-compute-bound"), seed)
        flops = 2 * models[prefill.params["model_name"]]["total_params"] * prefill.params["tokens"]
        achieved = h100["bf16_tflops_dense"] * 1e12 * prefill.params["mfu_pct"] / 100
        assert _key(prefill, "ms") == pytest.approx(flops / achieved * 1e3, rel=0.01)

        decode = instantiate(bank.get("decode-batch-throughput-estimate"), seed)
        batch, ctx = decode.params["batch"], decode.params["ctx"]
        step_bytes = (
            2 * llama3_8b["total_params"] + batch * ctx * llama3_8b["kv_bytes_per_token_fp16"]
        )
        tokens_per_s = batch * h100["memory_bw_tbs"] * 1e12 / step_bytes
        assert _key(decode, "tokens/s") == pytest.approx(tokens_per_s, rel=0.01)


def _key(instance: Instance, unit: str) -> float:
    key = instance.key
    assert isinstance(key, NumericKey) and key.unit == unit, f"{instance.question_id}: {key}"
    return key.value


def _cited_paths(reference: str, facts: dict[str, Any]) -> list[str]:
    """Dotted paths that start with a top-level facts key, after each 'shared facts:'."""
    roots = "|".join(map(re.escape, facts))
    path = re.compile(rf"(?<![\w.-])(?:{roots})(?:\.[\w.-]*\w)?(?![\w-])")
    cited: list[str] = []
    for part in reference.split("shared facts:")[1:]:
        cited += path.findall(part)
    return cited


def _has(node: Any, path: str) -> bool:
    """True when ``path`` names an entry; keys may contain dots ("Mistral-7B-v0.1")."""
    if not path:
        return True
    if not isinstance(node, dict):
        return False
    return any(
        _has(value, path[len(str(key)) + 1 :])
        for key, value in node.items()
        if path == str(key) or path.startswith(f"{key}.")
    )


def test_the_citation_check_itself_tells_real_entries_from_typos(facts: dict[str, Any]) -> None:
    reference = "shared facts: models.Mistral-7B-v0.1, gpus.H100_SXMX (stas00); formulas.nope"
    paths = _cited_paths(reference, facts)
    assert paths == ["models.Mistral-7B-v0.1", "gpus.H100_SXMX", "formulas.nope"]
    assert [_has(facts, p) for p in paths] == [True, False, False]
