"""Export and import: a faithful round trip, idempotence, and malformed files change nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from quiz.store import Store
from quiz.study.progress import progress
from quiz.study.reviews import due_cards
from quiz.study.transfer import (
    TransferError,
    export_data,
    export_file,
    import_data,
    import_file,
)
from tests.test_study_support import T0, build_history, fresh_store, tiny_bank

BANK = tiny_bank()


@pytest.fixture
def source(tmp_path: Path) -> Store:
    store = fresh_store(f"sqlite:///{tmp_path / 'source.db'}", BANK)
    build_history(store, BANK)
    return store


@pytest.fixture
def target(tmp_path: Path) -> Store:
    return fresh_store(f"sqlite:///{tmp_path / 'target.db'}", BANK)


def counts(store: Store) -> dict[str, int]:
    data = export_data(store)
    return {k: len(v) for k, v in data.items() if isinstance(v, list | dict)}


def test_import_into_a_fresh_database_reproduces_the_same_progress(
    source: Store, target: Store, tmp_path: Path
) -> None:
    path = tmp_path / "export.json"
    export_file(source, path)
    report = import_file(target, path)
    assert report.attempts == len(source.attempts()) > 0
    assert report.sessions == 1 and report.practical_runs == 2 and report.settings == 1
    assert progress(target, BANK, T0) == progress(source, BANK, T0)
    assert due_cards(target, T0) == due_cards(source, T0)
    assert counts(target) == counts(source)
    [mock] = target.list_sessions(mode="mock")
    assert len(target.attempts(session_id=mock.id)) == len(mock.state["answers"])


def test_importing_twice_creates_no_duplicates(
    source: Store, target: Store, tmp_path: Path
) -> None:
    path = tmp_path / "export.json"
    export_file(source, path)
    import_file(target, path)
    before = counts(target)
    again = import_file(target, path)
    assert set(vars(again).values()) == {0}
    assert counts(target) == before
    import_file(source, path)  # into the database it came from
    assert counts(source) == before


def test_an_import_merges_with_what_is_already_there(
    source: Store, target: Store, tmp_path: Path
) -> None:
    build_history(target, BANK)  # a different history (other uids) on the second machine
    mine = len(target.attempts())
    path = tmp_path / "export.json"
    export_file(source, path)
    report = import_file(target, path)
    assert len(target.attempts()) == mine + report.attempts
    assert report.settings == 0  # the plan already set here is kept


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "bad.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def corruptions(good: dict[str, Any]) -> list[tuple[object, str]]:
    def changed(**edits: object) -> dict[str, Any]:
        return {**json.loads(json.dumps(good)), **edits}

    attempts = json.loads(json.dumps(good["attempts"]))
    attempts[-1]["score"] = "lots"
    orphan = json.loads(json.dumps(good["attempts"]))
    orphan[-1]["question_id"] = "no-such-question"
    cards = json.loads(json.dumps(good["review_cards"]))
    cards[0]["card"] = {"state": "weird"}
    twice = good["attempts"] + good["attempts"][:1]
    naive = json.loads(json.dumps(good["attempts"]))
    naive[0]["created_at"] = "2026-03-01T10:00:00"
    return [
        ("{not json", "not valid JSON (line 1"),
        ([1, 2, 3], "not a latency-quiz export"),
        (changed(format="something-else"), "format"),
        (changed(version=99), "version"),
        (changed(attempts=attempts), f"attempts.{len(attempts) - 1}.score"),
        (changed(attempts=orphan), "no-such-question"),
        (changed(review_cards=cards), "not an FSRS card"),
        (changed(attempts=twice), "appears twice"),
        (changed(attempts=naive), "timezone"),
    ]


def test_a_malformed_file_changes_nothing_and_says_why(
    source: Store, target: Store, tmp_path: Path
) -> None:
    good = export_data(source)
    before = counts(target)
    for data, reason in corruptions(good):
        with pytest.raises(TransferError) as err:
            import_file(target, write(tmp_path, data))
        message = str(err.value)
        assert reason in message and "\n" not in message, message
        assert message.endswith("nothing was imported")
        assert counts(target) == before


def test_a_missing_file_is_one_line(target: Store, tmp_path: Path) -> None:
    with pytest.raises(TransferError, match="cannot read"):
        import_file(target, tmp_path / "nope.json")


def test_workspaces_travel_with_the_export_and_never_overwrite(
    source: Store, target: Store, tmp_path: Path
) -> None:
    home = tmp_path / "ws-home"
    kv = home / "kv-cache"
    (kv / "__pycache__").mkdir(parents=True)
    (kv / ".practical.json").write_text('{"id": "kv-cache", "seed": 7}\n')
    (kv / "solution.py").write_text("def step():\n    return 'mine'\n")
    (kv / "__pycache__" / "solution.cpython-311.pyc").write_bytes(b"\x00\x01")
    mock_copy = home / "mock-3" / "batch-sla"
    mock_copy.mkdir(parents=True)
    (mock_copy / ".practical.json").write_text('{"id": "batch-sla", "seed": 1}\n')
    (mock_copy / "solution.py").write_text("print('mock attempt')\n")
    (home / "stray.txt").write_text("not a workspace")

    data = export_data(source, workspaces=home)
    assert set(data["workspaces"]) == {"kv-cache", "mock-3/batch-sla"}
    assert set(data["workspaces"]["kv-cache"]) == {".practical.json", "solution.py"}

    elsewhere = tmp_path / "other-machine"
    (elsewhere / "kv-cache").mkdir(parents=True)
    (elsewhere / "kv-cache" / "solution.py").write_text("# newer work here\n")
    report = import_data(target, json.loads(json.dumps(data)), workspaces=elsewhere)
    assert report.workspace_files == 3  # the marker and the mock's two files; not the kept one
    assert (elsewhere / "kv-cache" / "solution.py").read_text() == "# newer work here\n"
    assert (elsewhere / "mock-3" / "batch-sla" / "solution.py").read_text() == (
        "print('mock attempt')\n"
    )
    assert import_data(target, data, workspaces=elsewhere).workspace_files == 0


def test_a_workspace_path_leaving_its_folder_is_refused(target: Store, tmp_path: Path) -> None:
    data = export_data(target, workspaces=tmp_path / "none")
    data["workspaces"] = {"kv-cache": {"../../escape.py": "x"}}
    with pytest.raises(TransferError, match="must stay inside its folder"):
        import_data(target, data, workspaces=tmp_path / "ws")
    assert not (tmp_path / "escape.py").exists()
