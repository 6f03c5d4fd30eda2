"""The app's notion of "now": injectable so tests can run a mock interview on a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Aware UTC now, the form the store keeps times in."""
    return datetime.now(timezone.utc)
