"""What every CLI command shares: the one-line argument parser, the lazily opened bank and
store, and JSON output."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any, NoReturn

from quiz.errors import UsageError

if TYPE_CHECKING:
    from quiz.bank import Bank
    from quiz.store import Store


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose mistakes are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class CliContext:
    """Lazily opened resources for one CLI invocation."""

    def __init__(self, db_url: str | None) -> None:
        self.db_url = db_url
        self._bank: Bank | None = None
        self._store: Store | None = None

    def bank(self) -> Bank:
        if self._bank is None:
            from quiz.bank import load_bank

            self._bank = load_bank()
        return self._bank

    def store(self) -> Store:
        """The database, migrated and with the bank synced into it."""
        if self._store is None:
            from quiz.store import open_store

            store = open_store(self.db_url)
            store.sync_bank(self.bank())
            self._store = store
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def require(condition: bool, message: str) -> None:
    if not condition:
        raise UsageError(message)
