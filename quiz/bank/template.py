"""``{name}`` placeholders in prompts and explanations; ``{name:,}`` groups thousands
("70,553,706,496"); ``{{`` and ``}}`` are literal braces."""

from __future__ import annotations

import re
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)(:,)?\}")


def placeholders(text: str) -> list[str]:
    """The ``{name}`` placeholders in ``text`` (``{{`` and ``}}`` are literal braces)."""
    return [m[1] for m in _PLACEHOLDER.finditer(text) if m[1]]


def render(text: str, values: dict[str, Any]) -> str:
    """``text`` with ``{name}`` replaced from ``values`` and ``{{ }}`` unescaped."""

    def replace(match: re.Match[str]) -> str:
        token = match[0]
        if token in ("{{", "}}"):
            return token[0]
        value = values[match[1]]
        if match[2] and isinstance(value, int | float):
            return f"{value:,}"
        return _format_param(value)

    return _PLACEHOLDER.sub(replace, text)


def _format_param(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)
