"""The catalog (practical.yaml + README + availability) and workspaces, without torch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quiz import config
from quiz.errors import LabError, NotFoundError
from quiz.lab.catalog import (
    cpu_caveat,
    cuda_availability,
    get_practical,
    list_practicals,
    scan_practicals,
)
from quiz.lab.device import cpu_flags
from quiz.lab.workspace import WorkspaceExistsError, start_workspace, workspace_practical
from tests.lab_fixtures import README, STARTER, write_practical


@pytest.fixture
def practicals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "practicals"
    write_practical(root, "toy")
    write_practical(root, "toy-gpu", device="cuda")
    monkeypatch.setattr(config, "practicals_dir", lambda: root)
    monkeypatch.setenv(config.HOME_ENV, str(tmp_path / "home"))
    return root


def test_lists_practicals_with_spec_readme_and_hints(practicals: Path) -> None:
    ids = [p.id for p in list_practicals()]
    assert ids == ["toy", "toy-gpu"]
    toy = get_practical("toy")
    assert toy.spec.phase == "foundations" and toy.spec.time_limit_s == 30
    assert "## Hints" not in toy.readme and "Make `double(x)`" in toy.readme
    assert toy.hints == ("Multiply.", "By two.", "`return 2 * x`")
    assert toy.availability.available and toy.availability.reason == ""


def test_cuda_practical_is_unavailable_here_with_a_reason(practicals: Path) -> None:
    if cuda_availability().available:
        pytest.skip("this machine has CUDA")
    row = get_practical("toy-gpu").summary_row()
    assert row["available"] is False
    assert "needs" in str(row["reason"]) and "torch" in str(row["reason"])


def test_unknown_practical_is_not_found(practicals: Path) -> None:
    with pytest.raises(NotFoundError, match="known: toy, toy-gpu"):
        get_practical("nope")
    with pytest.raises(NotFoundError):
        get_practical("../toy")


def test_broken_practicals_are_reported_not_fatal(practicals: Path) -> None:
    write_practical(practicals, "two-hints", readme=README.replace("### Hint 3\n", ""))
    bad = practicals / "bad-spec"
    write_practical(practicals, "bad-spec")
    (bad / "practical.yaml").write_text("id: bad-spec\ntitle: x\n", encoding="utf-8")
    found, problems = scan_practicals()
    assert [p.id for p in found] == ["toy", "toy-gpu"]
    assert len(problems) == 2
    assert any("exactly '### Hint 1'" in p for p in problems)
    assert any("bad-spec" in p and "phase" in p for p in problems)
    with pytest.raises(LabError):
        get_practical("two-hints")


def test_start_workspace_copies_starter_readme_and_files(practicals: Path, tmp_path: Path) -> None:
    folder = start_workspace("toy", tmp_path / "ws")
    assert (folder / "solution.py").read_text() == STARTER
    assert (folder / "README.md").is_file() and (folder / "helper.txt").is_file()
    marker = json.loads((folder / ".practical.json").read_text())
    assert marker["id"] == "toy" and isinstance(marker["seed"], int)
    assert workspace_practical(folder) == "toy"


def test_start_workspace_keeps_existing_work(practicals: Path, tmp_path: Path) -> None:
    folder = start_workspace("toy", tmp_path / "ws")
    (folder / "solution.py").write_text("# my work\n")
    with pytest.raises(WorkspaceExistsError):
        start_workspace("toy", folder)
    assert (folder / "solution.py").read_text() == "# my work\n"
    start_workspace("toy", folder, overwrite=True)
    assert (folder / "solution.py").read_text() == STARTER


def test_default_workspace_is_under_the_data_dir(practicals: Path) -> None:
    folder = start_workspace("toy")
    assert folder.parent == config.workspace_dir().resolve()


@pytest.mark.parametrize(
    ("cores", "cap", "expected"),
    [(2, None, 1), (16, None, 8), (64, None, 8), (16, 1, 1), (4, 8, 2)],
)
def test_grading_threads_are_half_the_cores_up_to_8_and_a_practicals_cap(
    monkeypatch: pytest.MonkeyPatch, cores: int, cap: int | None, expected: int
) -> None:
    from quiz.lab import device

    monkeypatch.setattr(device.os, "cpu_count", lambda: cores)
    assert device.grading_threads(cap) == expected


@pytest.mark.parametrize("practical_id", ["kv-cache", "tiled-attention"])
def test_graded_at_the_one_thread_their_speed_up_thresholds_hold_at(practical_id: str) -> None:
    assert get_practical(practical_id).spec.max_threads == 1


def test_a_cpu_caveat_shows_only_on_a_cpu_without_its_flags(tmp_path: Path) -> None:
    spec = get_practical("int8-ptq").spec
    assert spec.cpu_caveat is not None
    assert cpu_caveat(spec, frozenset({"sse4_2", "avx2", "avx512_vnni"})) == ""
    assert cpu_caveat(spec, frozenset({"sse4_2", "avx2"})).endswith(
        "; it has no avx512_vnni, avx_vnni or amx_int8"
    )
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nflags\t\t: fpu sse avx2\n\nprocessor\t: 1\n", encoding="utf-8")
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd asimddp\n", encoding="utf-8")
    assert cpu_flags.__wrapped__(x86) == {"fpu", "sse", "avx2"}
    assert cpu_flags.__wrapped__(arm) == {"fp", "asimd", "asimddp"}
    assert cpu_flags.__wrapped__(tmp_path / "missing") is None
    kv_cache = get_practical("kv-cache")
    assert kv_cache.spec.cpu_caveat is None and kv_cache.availability.caveat == ""
