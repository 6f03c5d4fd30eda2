"""A non-editable install must carry the bank, the practicals and the facts inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_bank_practicals_and_facts(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("latency_quiz-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    bank_files = {p.name for p in (ROOT / "questions").glob("*.yaml")}
    assert bank_files, "the source tree has no questions"
    for name in bank_files:
        assert f"quiz/_data/questions/{name}" in names
    for practical in (ROOT / "practicals").iterdir():
        if (practical / "practical.yaml").exists():
            assert f"quiz/_data/practicals/{practical.name}/practical.yaml" in names
            assert f"quiz/_data/practicals/{practical.name}/grader.py" in names
    assert "quiz/facts/inference-facts.yaml" in names
    assert "quiz/store/migrations/versions/0001_initial_schema.py" in names
    assert "quiz/store/migrations/script.py.mako" in names
    assert not any("__pycache__" in n for n in names)


def test_shipped_facts_match_the_team_facts_when_present() -> None:
    team_copy = ROOT.parent / "shared" / "facts" / "inference-facts.yaml"
    if not team_copy.exists():
        pytest.skip("no ../shared/facts beside this checkout")
    shipped = ROOT / "quiz" / "facts" / "inference-facts.yaml"
    assert shipped.read_bytes() == team_copy.read_bytes(), "refresh quiz/facts from shared/facts"
