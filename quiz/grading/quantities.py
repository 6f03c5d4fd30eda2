"""Reading a numeric answer in the key's unit, and saying how far off it is."""

from __future__ import annotations

import math

from quiz.bank import Instance, NumericKey
from quiz.units import BANDWIDTH, SIZE, dimension_of, format_quantity, parse_quantity

# A ratio this close to one of these is probably a unit mix-up, worth naming.
_PREFIX_MIXUPS = {1e3: "10^3", 1e6: "10^6", 1e9: "10^9"}
_BINARY_MIXUPS = {2**30 / 1e9: "GB and GiB", 2**20 / 1e6: "MB and MiB", 1.024: "KB and KiB"}
_MIXUP_TOLERANCE = 0.001


def numeric_key(instance: Instance) -> NumericKey:
    if not isinstance(instance.key, NumericKey):
        raise TypeError(f"{instance.question_id} has no numeric key")
    return instance.key


def read_answer(instance: Instance, answer: str) -> float:
    """The answer as a number in the key's unit; a bare number is read in that unit."""
    key = numeric_key(instance)
    return parse_quantity(answer, default_unit=key.unit).to(key.unit)


def shown(value: float, instance: Instance) -> str:
    return format_quantity(value, numeric_key(instance).unit)


def how_far(given: float, expected: float, unit: str) -> str:
    """ "2.0× too high", "7.4% too low (did you mix GB and GiB?)", "the wrong sign" ..."""
    if expected == 0 or given == 0:
        return f"off by {format_quantity(abs(given - expected), unit)}"
    if (given > 0) != (expected > 0):
        return "the wrong sign"
    ratio = given / expected
    direction = "too high" if ratio > 1 else "too low"
    factor = max(ratio, 1 / ratio)
    amount = f"{(factor - 1) * 100:.1f}%" if factor < 1.5 else f"{factor:.1f}×"
    return f"{amount} {direction}{_mixup_hint(factor, unit)}"


def _mixup_hint(factor: float, unit: str) -> str:
    def near(value: float) -> bool:
        return math.isclose(factor, value, rel_tol=_MIXUP_TOLERANCE)

    if unit == "%" and near(100):
        return " (a fraction where a percentage was asked?)"
    if dimension_of(unit) in (SIZE, BANDWIDTH):
        for ratio, units in _BINARY_MIXUPS.items():
            if near(ratio):
                return f" (did you mix {units}?)"
    for ratio, power in _PREFIX_MIXUPS.items():
        if near(ratio):
            return f" (off by a unit prefix, {power}?)"
    return ""
