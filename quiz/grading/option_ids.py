"""Reading option ids typed by a person: "B", " b ", "A,C", "a c", "C, A", "CAB"."""

from __future__ import annotations

import re

from quiz.bank import Instance
from quiz.errors import AnswerFormatError

_SEPARATORS = re.compile(r"[\s,;]+")


def option_ids(instance: Instance) -> list[str]:
    return [choice.id for choice in instance.choices]


def read_ids(answer: str, instance: Instance) -> list[str]:
    """The ids in ``answer``, in the order typed (AnswerFormatError for anything else)."""
    valid = option_ids(instance)
    ids: list[str] = []
    for token in _SEPARATORS.split(answer.strip()):
        token = token.upper().rstrip(".)")
        if not token:
            continue
        if token in valid:
            ids.append(token)
        elif len(token) > 1 and all(letter in valid for letter in token):
            ids.extend(token)  # "CAB": one letter per option
        else:
            raise AnswerFormatError(f"'{token}' is not an option (options: {', '.join(valid)})")
    if not ids:
        raise AnswerFormatError(f"no option given (options: {', '.join(valid)})")
    return ids


def describe(ids: list[str] | tuple[str, ...], instance: Instance, joiner: str = ", ") -> str:
    """ids with their texts: "A (first option), C (third option)"."""
    texts = {choice.id: choice.text for choice in instance.choices}
    return joiner.join(f"{i} ({texts[i]})" for i in ids)


def key_ids(instance: Instance) -> tuple[str, ...]:
    """The key of a multi or order instance."""
    if not isinstance(instance.key, tuple):
        raise TypeError(f"{instance.question_id} has no list of ids as its key")
    return instance.key
