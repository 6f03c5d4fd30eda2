"""FSRS card state as the store keeps it (``fsrs.Card.to_dict()``), and recall probability.

One scheduler for the whole program, without fuzzing: the same history always gives the same
schedule, so an imported history reproduces the same queue.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

from fsrs import Card, Scheduler

SCHEDULER = Scheduler(enable_fuzzing=False)


def new_card(question_id: str, now: datetime) -> Card:
    """A fresh card; its id is derived from the question id so exports stay stable."""
    return Card(card_id=zlib.crc32(question_id.encode()), due=now)


def card_from_dict(data: dict[str, Any]) -> Card:
    return Card.from_dict(data)  # type: ignore[arg-type]


def retrievability(card: dict[str, Any] | None, now: datetime) -> float:
    """FSRS probability of recalling the card at ``now``; 0.0 for a card never reviewed."""
    if card is None:
        return 0.0
    return float(SCHEDULER.get_card_retrievability(card_from_dict(card), now))
