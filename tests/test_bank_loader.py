"""The bank loader: every problem reported as PATH:LINE: message, and the Bank API.

Each broken fixture marks the line a problem must be reported on with ``# expect: MESSAGE``.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from quiz import config
from quiz.bank import Bank, BankError, Problem, load_bank, validate_paths
from quiz.errors import NotFoundError, QuizError, UsageError

FIXTURES = Path(__file__).parent / "fixtures" / "bank"
GOOD = FIXTURES / "good"
BROKEN = FIXTURES / "broken"
_EXPECT = re.compile(r"#\s*expect:\s*(.+)$")


def expected_problems(path: Path) -> list[tuple[Path, int, str]]:
    found = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = _EXPECT.search(line)
        if match:
            found.append((path, number, match[1].strip()))
    return found


BROKEN_FILES = sorted(BROKEN.glob("*.yaml"))


def test_there_is_a_broken_fixture_for_every_problem_class() -> None:
    names = {path.stem for path in BROKEN_FILES} | {"duplicate-id"}
    assert {
        "yaml-syntax",
        "unknown-kind",
        "unknown-field",
        "missing-key",
        "duplicate-id",
        "choice-key",
        "multi-key",
        "numeric-no-unit",
        "numeric-no-tolerance",
        "formula-unknown-param",
        "formula-not-arithmetic",
        "placeholder-unknown",
        "explanation-short",
        "references-empty",
        "unknown-unit",
        "practical-missing",
    } <= names


@pytest.mark.parametrize("path", BROKEN_FILES, ids=lambda p: p.stem)
def test_each_broken_file_is_reported_at_the_offending_line(path: Path) -> None:
    expected = expected_problems(path)
    assert expected, f"{path} marks no expected problem"
    problems = validate_paths([path])
    for file, line, message in expected:
        assert any(
            str(p).startswith(f"{file}:{line}: ") and message in p.message for p in problems
        ), f"no '{file}:{line}: ...{message}...' among:\n" + "\n".join(map(str, problems))
    assert len(problems) == len(expected), "\n".join(map(str, problems))


def test_duplicate_ids_across_files_are_reported_in_both_places() -> None:
    folder = BROKEN / "duplicate-id"
    a, b = folder / "a.yaml", folder / "b.yaml"
    (_, line_a, _), (_, line_b, _) = expected_problems(a)[0], expected_problems(b)[0]
    assert [str(p) for p in validate_paths([folder])] == [
        f"{a}:{line_a}: duplicate id 'shared-id' (also at {b}:{line_b})",
        f"{b}:{line_b}: duplicate id 'shared-id' (also at {a}:{line_a})",
    ]


def test_every_problem_of_every_file_is_reported_in_one_run() -> None:
    problems = validate_paths([*BROKEN_FILES, BROKEN / "duplicate-id"])
    expected = [e for path in BROKEN_FILES for e in expected_problems(path)]
    assert len(problems) == len(expected) + 2  # plus the two duplicate-id places
    for path in BROKEN_FILES:
        lines = [p.line for p in problems if p.path == path]
        assert lines == sorted(lines)


def test_unsafe_yaml_tags_are_refused_not_run() -> None:
    problems = validate_paths([BROKEN / "unsafe-tag.yaml"])
    assert "could not determine a constructor" in problems[0].message
    assert not Path("/tmp/latency-quiz-pwned").exists()


def test_the_good_fixture_bank_is_valid_and_loads() -> None:
    assert validate_paths([GOOD]) == []
    bank = load_bank([GOOD])
    assert list(bank.questions)[:3] == ["latency-vs-throughput", "decode-bound", "kv-cache-levers"]
    assert {q.kind for q in bank} == {
        "choice",
        "multi",
        "numeric",
        "estimate",
        "order",
        "short",
        "practical",
    }
    question = bank.get("decode-bound")
    assert question.source == (GOOD / "basics.yaml", 27)
    assert bank.get("serving-steps").source == (GOOD / "numbers.yaml", 57)


def test_problem_renders_as_path_line_message() -> None:
    assert str(Problem(Path("questions/a.yaml"), 12, "unknown field 'x'")) == (
        "questions/a.yaml:12: unknown field 'x'"
    )


def test_load_bank_raises_bank_error_carrying_every_problem() -> None:
    with pytest.raises(BankError) as err:
        load_bank([BROKEN / "several-problems.yaml"])
    assert isinstance(err.value, QuizError)
    assert len(err.value.problems) == 6
    assert "\n" not in str(err.value)
    assert str(err.value).startswith("the question bank has 6 problems")


def test_missing_path_is_a_problem(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert [str(p) for p in validate_paths([missing])] == [f"{missing}:1: no such file or folder"]


def test_default_bank_is_the_configured_folder_without_the_roadmap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(GOOD, tmp_path, dirs_exist_ok=True)
    (tmp_path / "roadmap.yaml").write_text("phases: [{id: foundations}]\n")
    monkeypatch.setattr(config, "bank_dir", lambda: tmp_path)
    assert len(load_bank()) == len(load_bank([GOOD]))
    assert validate_paths([tmp_path / "roadmap.yaml"]) == []


def test_get_unknown_id_raises_not_found_with_a_suggestion() -> None:
    bank = load_bank([GOOD])
    with pytest.raises(
        NotFoundError,
        match=r"^unknown question id 'decode-bond' \(did you mean 'decode-bound'\?\)$",
    ):
        bank.get("decode-bond")
    with pytest.raises(NotFoundError, match=r"^unknown question id 'zzz'$"):
        bank.get("zzz")


def test_filter_and_topics() -> None:
    bank = load_bank([GOOD])
    assert [q.id for q in bank.filter(phase="foundations", level="L1", kind="choice")] == [
        "decode-bound"
    ]
    assert [q.id for q in bank.filter(topic="kv-cache")] == [
        "kv-cache-levers",
        "kv-cache-bytes-gqa",
    ]
    assert bank.filter(topic="kernels") == []
    assert len(bank.filter()) == len(bank)
    assert bank.topics() == [
        "latency-throughput",
        "profiling",
        "kv-cache",
        "roofline",
        "serving",
        "capacity-planning",
    ]
    with pytest.raises(UsageError, match="unknown phase 'basics'"):
        bank.filter(phase="basics")


def test_content_hash_follows_the_content_not_the_place(tmp_path: Path) -> None:
    original = load_bank([GOOD]).content_hash("decode-bound")
    assert original == load_bank([GOOD]).content_hash("decode-bound")
    assert re.fullmatch(r"[0-9a-f]{16}", original)

    text = (GOOD / "basics.yaml").read_text()
    moved = tmp_path / "moved.yaml"
    moved.write_text("# a comment shifts every line\n\n" + text)
    assert load_bank([moved]).content_hash("decode-bound") == original

    edited = tmp_path / "edited.yaml"
    edited.write_text(text.replace("what usually bounds", "what mostly bounds"))
    assert load_bank([edited]).content_hash("decode-bound") != original


def test_a_bank_of_a_hundred_questions_loads_well_under_200_ms(tmp_path: Path) -> None:
    sources = [(GOOD / name).read_text() for name in ("basics.yaml", "numbers.yaml")]
    for copy in range(13):  # 13 x 8 = 104 questions in 26 files
        for number, text in enumerate(sources):
            renamed = re.sub(r"^- id: (\S+)", rf"- id: \1-{copy}", text, flags=re.MULTILINE)
            (tmp_path / f"copy-{copy}-{number}.yaml").write_text(renamed)
    assert len(load_bank([tmp_path])) == 104
    best = min(_seconds(lambda: load_bank([tmp_path])) for _ in range(3))
    assert best < 0.2, f"{best * 1000:.0f} ms"


def _seconds(action: Callable[[], object]) -> float:
    """CPU seconds of this process: other tests running beside this one do not count."""
    start = time.process_time()
    action()
    return time.process_time() - start


def test_shipped_bank_is_valid() -> None:
    problems = validate_paths([config.bank_dir()])
    assert problems == [], "\n".join(map(str, problems))
    assert isinstance(load_bank(), Bank)
