"""Reading a numeric answer in the key's unit, and saying how far off it is."""

from __future__ import annotations

import math
from dataclasses import dataclass

from quiz.bank import Instance, NumericKey
from quiz.units import dimension_of, format_number, format_quantity, parse_quantity

# A ratio this close to one of these is probably a unit mix-up, worth naming.
_PREFIX_MIXUPS = {1e3: "10^3", 1e6: "10^6", 1e9: "10^9"}
_BINARY_MIXUPS = {2**30 / 1e9: "GB and GiB", 2**20 / 1e6: "MB and MiB", 1.024: "KB and KiB"}
_MIXUP_TOLERANCE = 0.001


@dataclass(frozen=True)
class Reading:
    """The answer in the key's unit, and how it was read when that was not obvious."""

    value: float
    note: str = ""  # "Read 0.359 as a fraction: 35.9%."


def numeric_key(instance: Instance) -> NumericKey:
    if not isinstance(instance.key, NumericKey):
        raise TypeError(f"{instance.question_id} has no numeric key")
    return instance.key


def read_answer(instance: Instance, answer: str) -> Reading:
    """The answer in the key's unit. A bare number is read in that unit, except that a bare
    number from 0 to 1 (or a fraction like 1472/4096) where a percentage is asked is read as a
    fraction, and the note says so."""
    key = numeric_key(instance)
    quantity = parse_quantity(answer, default_unit=key.unit)
    if (
        key.unit == "%"
        and quantity.bare
        and not quantity.reading
        and 0 < abs(quantity.magnitude) <= 1
    ):
        value = quantity.magnitude * 100
        return Reading(
            value,
            f"Read {format_number(quantity.magnitude)} as a fraction: {shown(value, instance)}.",
        )
    value = quantity.to(key.unit)
    if quantity.reading:
        in_key_unit = shown(value, instance)
        reading, _, result = quantity.reading.rpartition(" = ")
        if result != in_key_unit and not (quantity.bare and quantity.magnitude == value):
            reading = quantity.reading  # "1472/4096 = 0.3594" is worth showing before 35.94%
        return Reading(value, f"Read {reading} = {in_key_unit}.")
    return Reading(value)


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
    if dimension_of(unit).name in ("size", "bandwidth"):
        for ratio, units in _BINARY_MIXUPS.items():
            if near(ratio):
                return f" (did you mix {units}?)"
        if near(8):
            return " (did you mix bits and bytes?)"
    for ratio, power in _PREFIX_MIXUPS.items():
        if near(ratio):
            return f" (off by a unit prefix, {power}?)"
    return ""
