"""A safe evaluator for answer formulas: arithmetic over parameters and a few math functions.

The formula is parsed with ``ast.parse`` and only a whitelist of node types is walked by this
module's own interpreter; nothing is ever handed to ``eval``, ``exec`` or ``compile``. Values are
floats, so an exponent cannot build an unbounded integer; every intermediate result must be a
finite real number.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache

from quiz.errors import QuizError

MAX_LENGTH = 500
MAX_NODES = 200

_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}


def _round(x: float, ndigits: float = 0) -> float:
    if ndigits != int(ndigits):
        raise ValueError("round() needs a whole number of digits")
    return float(round(x, int(ndigits)))


# name -> (function, fewest arguments, most arguments)
FUNCTIONS: dict[str, tuple[Callable[..., float], int, int]] = {
    "min": (min, 2, 16),
    "max": (max, 2, 16),
    "abs": (abs, 1, 1),
    "round": (_round, 1, 2),
    "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1),
    "sqrt": (math.sqrt, 1, 1),
    "log": (math.log, 1, 2),
    "log2": (math.log2, 1, 1),
    "log10": (math.log10, 1, 1),
    "exp": (math.exp, 1, 1),
}


class FormulaError(QuizError):
    """A formula that is not allowed, or that cannot be evaluated with the given values."""


def check_formula(expr: str, allowed_names: Iterable[str]) -> list[str]:
    """Every reason ``expr`` is not an allowed formula over ``allowed_names`` (empty if fine)."""
    if not isinstance(expr, str) or not expr.strip():
        return ["formula is empty"]
    if len(expr) > MAX_LENGTH:
        return [f"formula is too long ({len(expr)} characters, at most {MAX_LENGTH})"]
    try:
        tree = _parse(expr)
    except SyntaxError as err:
        return [f"formula is not valid arithmetic: {err.msg}"]
    except (RecursionError, MemoryError, ValueError):
        return ["formula is nested too deeply"]
    size = sum(1 for _ in ast.walk(tree))
    if size > MAX_NODES:
        return [f"formula is too complex ({size} parts, at most {MAX_NODES})"]
    allowed = set(allowed_names)
    problems: list[str] = []
    pending: list[ast.AST] = [tree.body]
    while pending:
        node = pending.pop()
        problem = _node_problem(node, allowed)
        if problem:  # its parts are not looked at: one message per offending construct
            if problem not in problems:
                problems.append(problem)
            continue
        if isinstance(node, ast.Call):
            pending.extend(reversed(node.args))
        else:
            pending.extend(reversed(list(ast.iter_child_nodes(node))))
    return problems


def evaluate(expr: str, names: Mapping[str, float]) -> float:
    """The value of ``expr`` with ``names`` bound; FormulaError if it is not allowed or fails."""
    problems = check_formula(expr, names)
    if problems:
        raise FormulaError(f"formula {_shown(expr)}: {problems[0]}")
    try:
        return _eval(_parse(expr).body, names)
    except (ArithmeticError, ValueError, TypeError) as err:
        raise FormulaError(f"formula {_shown(expr)} cannot be evaluated: {_reason(err)}") from None


def _shown(expr: str) -> str:
    return repr(expr if len(expr) <= 60 else expr[:57] + "...")


@lru_cache(maxsize=1024)
def _parse(expr: str) -> ast.Expression:
    return ast.parse(expr.strip(), mode="eval")


def _node_problem(node: ast.AST, allowed: set[str]) -> str | None:
    """What is wrong with ``node`` itself (a call's function name is judged with the call)."""
    if isinstance(node, ast.Load):
        return None
    if isinstance(node, ast.operator | ast.unaryop):
        if type(node) in _BINARY or type(node) in _UNARY:
            return None
        return f"operator '{type(node).__name__}' is not allowed"
    if isinstance(node, ast.Constant):
        is_number = isinstance(node.value, int | float) and not isinstance(node.value, bool)
        return None if is_number else f"only numbers are allowed as constants, not {node.value!r}"
    if isinstance(node, ast.BinOp | ast.UnaryOp):
        return None
    if isinstance(node, ast.Name):
        if node.id in allowed:
            return None
        if node.id in FUNCTIONS:
            return f"'{node.id}' is a function: call it, like {node.id}(x)"
        return f"unknown parameter '{node.id}'"
    if isinstance(node, ast.Call):
        return _call_problem(node)
    return f"{_describe(node)} is not allowed (only arithmetic and {', '.join(FUNCTIONS)})"


def _call_problem(node: ast.Call) -> str | None:
    if not isinstance(node.func, ast.Name):
        return f"{_describe(node.func)} is not allowed (only arithmetic and {', '.join(FUNCTIONS)})"
    if node.func.id not in FUNCTIONS:
        return f"function '{node.func.id}' is not allowed (allowed: {', '.join(FUNCTIONS)})"
    if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
        return f"{node.func.id}() takes plain positional arguments"
    _, fewest, most = FUNCTIONS[node.func.id]
    if not fewest <= len(node.args) <= most:
        expected = str(fewest) if fewest == most else f"{fewest} to {most}"
        return f"{node.func.id}() takes {expected} arguments, got {len(node.args)}"
    return None


def _describe(node: ast.AST) -> str:
    names = {
        ast.Attribute: "attribute access",
        ast.Subscript: "indexing",
        ast.Compare: "comparison",
        ast.BoolOp: "'and'/'or'",
        ast.IfExp: "'if ... else'",
        ast.Lambda: "lambda",
    }
    return names.get(type(node), f"'{type(node).__name__}'")


def _eval(node: ast.expr, names: Mapping[str, float]) -> float:
    if isinstance(node, ast.Constant):
        return _checked(node.value)
    if isinstance(node, ast.Name):
        return _checked(float(names[node.id]))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_eval(node.operand, names))
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, names), _eval(node.right, names)
        return _checked(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        function = FUNCTIONS[node.func.id][0]
        return _checked(function(*(_eval(arg, names) for arg in node.args)))
    raise TypeError(f"unexpected {type(node).__name__}")  # check_formula rejects it first


def _checked(value: object) -> float:
    if isinstance(value, complex):
        raise ValueError("the result is not a real number")
    result = float(value)  # type: ignore[arg-type]  # int or float by construction
    if not math.isfinite(result):
        raise OverflowError("the result is too large")
    return result


def _reason(err: Exception) -> str:
    if isinstance(err, ZeroDivisionError):
        return "division by zero"
    if isinstance(err, OverflowError):
        return "the result is too large"
    return str(err) or type(err).__name__
