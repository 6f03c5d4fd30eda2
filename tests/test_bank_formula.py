"""The formula evaluator: agrees with Python arithmetic, refuses everything else."""

from __future__ import annotations

import ast
import math
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quiz.bank import formula
from quiz.bank.formula import FUNCTIONS, FormulaError, check_formula, evaluate

NAMES = ("a", "b", "c")
ONE_ARG = ("abs", "floor", "ceil", "sqrt", "log", "log2", "log10", "exp", "round")


def _leaves() -> st.SearchStrategy[str]:
    # Float literals, so Python's own arithmetic (the oracle) works on floats exactly as the
    # evaluator does; integer arithmetic would differ only by exactness at huge magnitudes.
    numbers = st.sampled_from(["0.0", "1.0", "2.0", "3.0", "0.5", "7.0", "10.0", "1024.0", "2.5e3"])
    return numbers | st.sampled_from(NAMES)


def _compose(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "//", "%", "**"]), inner)
    return st.one_of(
        binary.map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        binary.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda e: f"-{e}"),
        inner.map(lambda e: f"+({e})"),
        st.tuples(st.sampled_from(ONE_ARG), inner).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(st.sampled_from(["min", "max"]), inner, inner).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]})"
        ),
    )


expressions = st.recursive(_leaves(), _compose, max_leaves=12)
values = st.floats(min_value=-50, max_value=50, allow_nan=False).filter(lambda v: v != 0)


def _python(expr: str, names: dict[str, float]) -> float | None:
    """What Python itself makes of ``expr`` (the test oracle), or None where it fails or is not
    a finite real number."""
    scope = {name: getattr(math, name, None) for name in FUNCTIONS}
    scope |= {"min": min, "max": max, "abs": abs, "round": round, "__builtins__": {}}
    try:
        result = eval(expr, scope, dict(names))  # noqa: S307 - the oracle, on generated input
    except (ArithmeticError, ValueError, TypeError):  # TypeError: a complex intermediate
        return None
    if isinstance(result, complex) or not math.isfinite(result):
        return None
    return float(result)


@settings(max_examples=400, deadline=None)
@given(expressions, values, values, values)
def test_agrees_with_python_arithmetic(expr: str, a: float, b: float, c: float) -> None:
    names = {"a": a, "b": b, "c": c}
    assert check_formula(expr, NAMES) == []
    expected = _python(expr, names)
    if expected is None:
        with pytest.raises(FormulaError):
            evaluate(expr, names)
        return
    try:
        result = evaluate(expr, names)
    except FormulaError as err:
        # Python lets an intermediate overflow to inf and may still end finite (1 / inf);
        # the evaluator refuses any non-finite intermediate.
        assert "too large" in str(err)
    else:
        assert result == pytest.approx(expected, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("2 + 3 * 4 ** 2", 50),
        ("-2 ** 2", -4),
        ("2 ** -1", 0.5),
        ("2 ** 3 ** 2", 512),
        ("7 // 2", 3),
        ("-7 % 3", 2),
        ("round(2.567, 1)", 2.6),
        ("log(8, 2)", 3),
        ("max(1, 5, 3)", 5),
        ("ceil(layers / 3)", 14),
        ("2 * layers * kv_heads * head_dim * tokens * dtype", 2 * 40 * 8 * 128 * 4096 * 2),
    ],
)
def test_known_values(expr: str, value: float) -> None:
    names = {"layers": 40, "kv_heads": 8, "head_dim": 128, "tokens": 4096, "dtype": 2}
    assert evaluate(expr, names) == pytest.approx(value)


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("x.real", "attribute access is not allowed"),
        ("a[0]", "indexing is not allowed"),
        ("__import__('os')", "function '__import__' is not allowed"),
        ("open('f')", "function 'open' is not allowed"),
        ("(lambda: 1)()", "lambda is not allowed"),
        ("a if b else c", "'if ... else' is not allowed"),
        ("a < b", "comparison is not allowed"),
        ("a and b", "'and'/'or' is not allowed"),
        ("[a for a in b]", "'ListComp' is not allowed"),
        ("(y := 2)", "'NamedExpr' is not allowed"),
        ("a @ b", "operator 'MatMult' is not allowed"),
        ("a << b", "operator 'LShift' is not allowed"),
        ("~a", "operator 'Invert' is not allowed"),
        ("'text'", "only numbers are allowed as constants"),
        ("True + 1", "only numbers are allowed as constants, not True"),
        ("1j", "only numbers are allowed as constants"),
        ("kv_heads * 2", "unknown parameter 'kv_heads'"),
        ("min + 1", "'min' is a function: call it"),
        ("min(a)", "min() takes 2 to 16 arguments, got 1"),
        ("sqrt(a, b)", "sqrt() takes 1 arguments, got 2"),
        ("round(a, ndigits=2)", "round() takes plain positional arguments"),
        ("max(*a)", "max() takes plain positional arguments"),
        ("a +", "formula is not valid arithmetic"),
        ("", "formula is empty"),
        ("a" + " + a" * 300, "formula is too long"),
        ("-" * 300 + "a", "formula is too complex"),
        ("(" * 210 + "a" + ")" * 210, "formula is not valid arithmetic"),
    ],
)
def test_refuses_anything_but_arithmetic(expr: str, problem: str) -> None:
    problems = check_formula(expr, ["a", "b", "c", "x"])
    assert any(problem in p for p in problems), problems
    with pytest.raises(FormulaError, match="formula"):
        evaluate(expr, {"a": 1.0, "b": 2.0, "c": 3.0, "x": 4.0})


def test_reports_every_offending_construct_once() -> None:
    problems = check_formula("foo(a) + b.c + foo(1) + nope", ["a", "b"])
    assert problems == [
        "function 'foo' is not allowed (allowed: " + ", ".join(FUNCTIONS) + ")",
        "attribute access is not allowed (only arithmetic and " + ", ".join(FUNCTIONS) + ")",
        "unknown parameter 'nope'",
    ]


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("9 ** 9 ** 9", "too large"),
        ("10 ** 400", "too large"),
        ("exp(1000)", "too large"),
        ("1e200 * 1e200", "too large"),
        ("1 / (a - a)", "division by zero"),
        ("a % 0", "division by zero"),
        ("(-8) ** 0.5", "not a real number"),
        ("sqrt(-1)", "math domain error"),
        ("log(0)", "math domain error"),
        ("round(a, 0.5)", "whole number of digits"),
    ],
)
def test_failures_are_formula_errors_and_fast(expr: str, reason: str) -> None:
    start = time.perf_counter()
    with pytest.raises(FormulaError, match=reason):
        evaluate(expr, {"a": 2.0})
    assert time.perf_counter() - start < 0.5


def test_parameters_are_numbers_only() -> None:
    with pytest.raises(FormulaError):
        evaluate("a * 2", {"a": "bf16"})  # type: ignore[dict-item]


def test_never_hands_code_to_eval_exec_or_compile() -> None:
    tree = ast.parse(Path(formula.__file__).read_text())
    called = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not called & {"eval", "exec", "compile", "__import__"}
