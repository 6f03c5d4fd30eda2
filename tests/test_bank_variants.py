"""Seeded instances: deterministic per (id, seed), different across seeds, keys computed."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quiz.bank import NumericKey, Question, instantiate, load_bank
from quiz.bank.schema import MODELS, ChoiceQuestion, MultiQuestion

GOOD = Path(__file__).parent / "fixtures" / "bank" / "good"
BANK = load_bank([GOOD])
seeds = st.integers(min_value=0, max_value=2**63)


def make(kind: str, **fields: Any) -> Question:
    base: dict[str, Any] = {
        "id": "made-up",
        "title": "A made-up question",
        "phase": "core",
        "level": "L2",
        "topic": "kv-cache",
        "skills": ["memory-sizing"],
        "kind": kind,
        "prompt": "How much?",
        "explanation": "The first sentence explains it. The second sentence says why it matters.",
        "references": ["a paper"],
        "time_budget_s": 60,
    }
    return MODELS[kind].model_validate(base | fields)


@given(st.sampled_from(list(BANK.questions)), seeds)
def test_same_id_and_seed_give_the_same_instance(question_id: str, seed: int) -> None:
    question = BANK.get(question_id)
    assert instantiate(question, seed) == instantiate(question, seed)


def test_instances_are_the_same_in_another_process() -> None:
    ids = ["kv-cache-bytes-gqa", "serving-steps"]
    script = (
        "import json, sys; from pathlib import Path; from quiz.bank import load_bank, instantiate;"
        f"bank = load_bank([Path({str(GOOD)!r})]);"
        f"print(json.dumps([[instantiate(bank.get(i), s).prompt, instantiate(bank.get(i), s).key_json()]"
        f" for i in {ids!r} for s in range(5)]))"
    )
    env = os.environ | {"PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    here = [
        [instantiate(BANK.get(i), s).prompt, instantiate(BANK.get(i), s).key_json()]
        for i in ids
        for s in range(5)
    ]
    assert json.loads(out.stdout) == here


def test_different_seeds_give_different_problems() -> None:
    question = BANK.get("kv-cache-bytes-gqa")
    prompts = {instantiate(question, seed).prompt for seed in range(20)}
    assert len(prompts) >= 15
    orders = {
        tuple(c.text for c in instantiate(BANK.get("serving-steps"), s).choices) for s in range(20)
    }
    assert len(orders) >= 5


def test_seed_is_mixed_with_the_id() -> None:
    first, second = (
        make("numeric", id="first-q", **_kv_fields()),
        make("numeric", id="second-q", **_kv_fields()),
    )
    assert [instantiate(first, s).params for s in range(5)] != [
        instantiate(second, s).params for s in range(5)
    ]


def _kv_fields() -> dict[str, Any]:
    return {
        "prompt": "{layers} layers, {tokens} tokens",
        "params": {"layers": [32, 40, 80], "tokens": {"min": 1024, "max": 32768, "step": 1024}},
        "answer": {"formula": "layers * tokens", "unit": "B", "tolerance": {"relative": 0.02}},
    }


@given(seeds)
def test_parameterized_key_is_computed_from_the_drawn_parameters(seed: int) -> None:
    instance = instantiate(BANK.get("kv-cache-bytes-gqa"), seed)
    p = instance.params
    assert p["layers"] in (32, 40, 80) and p["kv_heads"] in (8, 32) and p["head_dim"] == 128
    assert p["tokens"] % 1024 == 0 and 1024 <= p["tokens"] <= 32768
    assert (p["dtype_name"], p["dtype"]) in (("bf16", 2), ("fp8", 1))
    expected_bytes = 2 * p["layers"] * p["kv_heads"] * p["head_dim"] * p["tokens"] * p["dtype"]
    assert isinstance(instance.key, NumericKey)
    assert instance.key.unit == instance.unit == "GiB"
    assert instance.key.value == pytest.approx(expected_bytes / 2**30, rel=1e-12)
    assert instance.key.relative == 0.02
    for shown in (f"{p['layers']} layers", f"{p['tokens']} tokens", f"in {p['dtype_name']}."):
        assert shown in instance.prompt
    assert "{" not in instance.prompt


@given(seeds)
def test_order_items_are_shuffled_never_as_written_and_the_key_restores_them(seed: int) -> None:
    question = BANK.get("serving-steps")
    instance = instantiate(question, seed)
    shown = [c.text for c in instance.choices]
    assert shown != question.items  # type: ignore[attr-defined]
    assert [c.id for c in instance.choices] == ["A", "B", "C", "D"]
    by_id = {c.id: c.text for c in instance.choices}
    assert [by_id[i] for i in instance.key_json()] == question.items  # type: ignore[attr-defined]


def test_two_items_are_always_swapped() -> None:
    question = make("order", items=["first", "second"])
    for seed in range(10):
        assert [c.text for c in instantiate(question, seed).choices] == ["second", "first"]
        assert instantiate(question, seed).key_json() == ["B", "A"]


def test_key_json_per_kind() -> None:
    def key(question_id: str) -> Any:
        return instantiate(BANK.get(question_id), 0).key_json()

    decode = instantiate(BANK.get("decode-bound"), 0)
    assert key("decode-bound") == next(c.id for c in decode.choices if c.text == "Memory bandwidth")
    levers = instantiate(BANK.get("kv-cache-levers"), 0)
    assert key("kv-cache-levers") == sorted(levers.key)  # type: ignore[arg-type]
    assert len(levers.key) == 3  # type: ignore[arg-type]
    assert key("h100-weights-read-time") == {
        "value": 4.78,
        "unit": "ms",
        "tolerance": {"absolute": 0.1},
    }
    assert key("llama-70b-weights-estimate") == {
        "value": 140.0,
        "unit": "GB",
        "tolerance": {"factor": 2.0},
    }
    assert key("latency-vs-throughput").startswith("Latency is the time one request takes")
    assert key("profile-hotspot-question") is None
    for question in BANK:
        json.dumps(instantiate(question, 3).key_json())


def test_instance_fields() -> None:
    instance = instantiate(BANK.get("decode-bound"), 7)
    assert (instance.question_id, instance.seed, instance.kind) == ("decode-bound", 7, "choice")
    assert (instance.phase, instance.level, instance.topic) == ("foundations", "L1", "roofline")
    assert instance.skills == ("roofline",) and instance.time_budget_s == 60
    assert [c.id for c in instance.choices] == ["A", "B", "C", "D"]
    decode_bound = BANK.get("decode-bound")
    assert isinstance(decode_bound, ChoiceQuestion)
    assert sorted(c.text for c in instance.choices) == sorted(decode_bound.choices)
    assert instance.key_json() == next(
        c.id for c in instance.choices if c.text == "Memory bandwidth"
    )
    assert instance.unit is None and instance.params == {} and instance.model_answer is None
    assert instance.explanation.startswith("Each decode step") and instance.references
    practical = instantiate(BANK.get("profile-hotspot-question"))
    assert practical.practical == "profile-hotspot" and practical.key is None
    short = instantiate(BANK.get("latency-vs-throughput"))
    assert short.model_answer == short.key_json()
    with pytest.raises(dataclasses.FrozenInstanceError):
        instance.seed = 8  # type: ignore[misc]


def test_unparameterized_numeric_is_the_same_for_every_seed() -> None:
    question = BANK.get("h100-weights-read-time")
    assert not question.parameterized and BANK.get("kv-cache-bytes-gqa").parameterized
    assert len({(i.prompt, i.key) for i in (instantiate(question, s) for s in range(5))}) == 1


def test_absolute_tolerance_is_converted_to_the_display_unit() -> None:
    question = make(
        "numeric",
        answer={"value": 4780, "unit": "us", "display_unit": "ms", "tolerance": {"absolute": 100}},
    )
    assert instantiate(question).key == NumericKey(4.78, "ms", None, 0.1)


def test_ranges_without_step() -> None:
    question = make(
        "numeric",
        prompt="{n} and {ratio}",
        params={"n": {"min": 1, "max": 3}, "ratio": {"min": 0.1, "max": 0.9}},
        answer={"formula": "n * ratio", "unit": "", "tolerance": {"relative": 0.01}},
    )
    instances = [instantiate(question, s) for s in range(50)]
    assert {i.params["n"] for i in instances} == {1, 2, 3}
    ratios = [i.params["ratio"] for i in instances]
    assert all(0.1 <= r <= 0.9 and r == float(f"{r:.3g}") for r in ratios)


def test_float_steps_do_not_accumulate_rounding_noise() -> None:
    question = make(
        "numeric",
        prompt="acceptance rate {rate}",
        params={"rate": {"min": 0.1, "max": 0.9, "step": 0.1}},
        answer={"formula": "1 / (1 - rate)", "unit": "x", "tolerance": {"relative": 0.01}},
    )
    rates = {instantiate(question, s).params["rate"] for s in range(100)}
    assert rates == {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}


def test_literal_braces_render_once() -> None:
    question = make("choice", prompt="Is {{a: 1}} a dict?", choices=["yes", "no"], answer="A")
    assert instantiate(question).prompt == "Is {a: 1} a dict?"


def test_options_are_shuffled_per_seed_and_the_key_follows_them() -> None:
    question = BANK.get("decode-bound")
    keys = set()
    for seed in range(40):
        instance = instantiate(question, seed)
        assert instance == instantiate(question, seed)
        right = next(c for c in instance.choices if c.id == instance.key)
        assert right.text == "Memory bandwidth"
        keys.add(instance.key)
    assert keys == {"A", "B", "C", "D"}
    levers = BANK.get("kv-cache-levers")
    assert isinstance(levers, MultiQuestion)
    written_right = {levers.choices["ABCD".index(i)] for i in levers.answer}
    for seed in range(10):
        instance = instantiate(levers, seed)
        assert isinstance(instance.key, tuple)
        assert {c.text for c in instance.choices if c.id in instance.key} == written_right


def test_thousands_placeholder_groups_digits() -> None:
    from quiz.bank.template import placeholders, render

    assert render("{n:,} parameters, {n} raw", {"n": 70553706496}) == (
        "70,553,706,496 parameters, 70553706496 raw"
    )
    assert placeholders("{n:,} and {m}") == ["n", "m"]
