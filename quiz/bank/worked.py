"""Worked solutions: a parameterized question's formula shown for one instance's numbers, step
by step: the formula, the numbers put in, each level of the arithmetic evaluated, the result.

    price / (tps × 3600) × 1e6
  = 3.99 / (1,500 × 3,600) × 1,000,000
  = 3.99 / 5,400,000 × 1,000,000
  = 0.7389 USD
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

from quiz.bank.formula import FUNCTIONS, evaluate
from quiz.units import convert, format_number, format_quantity

_SYMBOLS: dict[type[ast.operator], tuple[str, int]] = {
    ast.Add: ("+", 1),
    ast.Sub: ("−", 1),
    ast.Mult: ("×", 2),
    ast.Div: ("/", 2),
    ast.FloorDiv: ("//", 2),
    ast.Mod: ("mod", 2),
    ast.Pow: ("^", 3),
}
MAX_LINES = 6


def worked_steps(
    formula: str, values: Mapping[str, float], unit: str, display_unit: str
) -> list[str]:
    """The lines of the worked solution (the first is the formula, the last the result)."""
    tree = ast.parse(formula.strip(), mode="eval").body
    lines = [_show(tree, values, depth=None)]
    for depth in range(_height(tree)):
        line = _show(tree, values, depth=depth)
        if line != lines[-1]:
            lines.append(line)
    if len(lines) > MAX_LINES:  # keep the formula, the numbers put in, and the last steps
        lines = lines[:2] + lines[-(MAX_LINES - 2) :]
    result = evaluate(formula, values)
    last = format_quantity(result, unit)
    if display_unit != unit:
        last += f" = {format_quantity(convert(result, unit, display_unit), display_unit)}"
    if lines[-1] == _number(result):
        lines[-1] = last
    else:
        lines.append(last)
    return lines


STEP_DIGITS = 6  # the answer keeps 4; at 4, "206.125 × 0.5" showed as "206.1 × 0.5 = 103.1"


def _number(value: float) -> str:
    """6 significant digits; powers of ten from 10^12 on ("7.22531e14")."""
    if abs(value) < 1e12:
        return format_number(value, STEP_DIGITS)
    mantissa, exponent = f"{value:.{STEP_DIGITS - 1}e}".split("e")
    return f"{format_number(float(mantissa), STEP_DIGITS)}e{int(exponent)}"


def _height(node: ast.expr) -> int:
    children = [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr)]
    if isinstance(node, ast.Call):
        children = list(node.args)
    return 1 + max((_height(c) for c in children), default=-1)


def _show(node: ast.expr, values: Mapping[str, float], depth: int | None) -> str:
    """``node`` as text; with a ``depth``, parameters are numbers and every part no taller
    than ``depth`` is replaced by its value."""
    if depth is not None and (_height(node) <= depth or isinstance(node, ast.Name)):
        return _number(_value(node, values))
    if isinstance(node, ast.Constant):
        return _number(_value(node, values))
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.UnaryOp):
        return f"-{_show(node.operand, values, depth)}"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        args = ", ".join(_show(arg, values, depth) for arg in node.args)
        return f"{node.func.id}({args})"
    if isinstance(node, ast.BinOp):
        symbol, rank = _SYMBOLS[type(node.op)]
        left = _wrapped(node.left, values, depth, rank, right_side=False)
        right = _wrapped(node.right, values, depth, rank, right_side=True)
        return f"{left}^{right}" if symbol == "^" else f"{left} {symbol} {right}"
    raise TypeError(f"unexpected {type(node).__name__}")  # check_formula rejects it first


def _wrapped(
    node: ast.expr, values: Mapping[str, float], depth: int | None, rank: int, right_side: bool
) -> str:
    text = _show(node, values, depth)
    if isinstance(node, ast.BinOp) and not (depth is not None and _height(node) <= depth):
        inner = _SYMBOLS[type(node.op)][1]
        if inner < rank or (inner == rank and (right_side or rank == 3)):
            return f"({text})"
    return text


def _value(node: ast.expr, values: Mapping[str, float]) -> float:
    return evaluate(ast.unparse(node), {k: v for k, v in values.items() if k not in FUNCTIONS})
