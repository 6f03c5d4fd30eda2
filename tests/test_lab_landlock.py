"""The landlock sandbox level (quiz/lab/landlock.py): where bubblewrap cannot make namespaces,
Landlock keeps a contestant's file access to what it needs, and (ABI 6) its signals to its own
processes. The rules are unit-tested anywhere; the grades need a kernel with Landlock ABI 6."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from quiz import config
from quiz.lab import landlock, sandbox
from tests.lab_fixtures import write_practical
from tests.test_lab_referee import (  # noqa: F401 - outside and stack are fixtures
    grade,
    listening_port,
    outside,
    probe,
    snapshot,
    stack,
)

needs_landlock = pytest.mark.skipif(
    landlock.abi() < 6, reason=f"the kernel's Landlock ABI is {landlock.abi()} here, not 6+"
)


def rights_by_path(rules: list[landlock.Rule]) -> dict[str, int]:
    return {rule.path: rule.rights for rule in rules}


def test_a_hidden_folder_below_an_allowed_one_is_left_out_and_its_siblings_kept(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site-packages"
    (site / "quiz" / "_data" / "practicals").mkdir(parents=True)
    (site / "quiz" / "lab").mkdir()
    (site / "quiz" / "__init__.py").write_text("")
    (site / "torch").mkdir()
    secret = tmp_path / "home"
    secret.mkdir()
    (secret / "notes.txt").write_text("the user's")
    (site / "linked").symlink_to(secret)  # a way into a hidden folder through a link
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    rules = rights_by_path(
        landlock.rules(
            scratch=scratch,
            needed=[site],
            hidden=[site / "quiz" / "_data", secret],
            version=7,
            listable=[tmp_path],
        )
    )
    read_only = landlock.READ_ONLY
    assert rules[str(site / "torch")] == read_only
    assert rules[str(site / "quiz" / "lab")] == read_only
    assert rules[str(site / "quiz" / "__init__.py")] == landlock.EXECUTE | landlock.READ_FILE
    assert rules[str(site)] == rules[str(site / "quiz")] == landlock.READ_DIR
    assert not [path for path in rules if "_data" in path or path.startswith(str(secret))]
    assert rules[str(tmp_path)] == landlock.READ_DIR  # listed, not read
    assert rules[str(scratch)] == landlock.handled_fs(7)


def test_a_needed_folder_inside_a_hidden_one_is_allowed_but_not_its_hidden_parts(
    tmp_path: Path,
) -> None:
    """A virtual environment in the (hidden) home: the interpreter must still run, and an
    installed copy of the practicals inside it stays hidden."""
    home = tmp_path / "home"
    venv = home / ".venv"
    (venv / "quiz" / "_data").mkdir(parents=True)
    (venv / "bin").mkdir()
    rules = rights_by_path(
        landlock.rules(
            scratch=tmp_path, needed=[venv], hidden=[home, venv / "quiz" / "_data"], version=7
        )
    )
    assert rules[str(venv / "bin")] == landlock.READ_ONLY
    assert str(home) not in rules and str(venv / "quiz" / "_data") not in rules


def test_rights_the_kernel_does_not_know_are_not_asked_for(tmp_path: Path) -> None:
    assert landlock.handled_fs(1) == (1 << 13) - 1
    assert landlock.handled_fs(3) & landlock.TRUNCATE and not landlock.handled_fs(3) & (1 << 15)
    rules = landlock.rules(scratch=tmp_path, needed=[], hidden=[], version=1)
    assert all(rule.rights & ~landlock.handled_fs(1) == 0 for rule in rules)
    assert "cannot signal the baseline or the referee" in landlock.covers(6)
    assert "cannot signal the baseline or the referee" not in landlock.covers(5)


def test_only_the_usual_device_files_may_be_opened(tmp_path: Path) -> None:
    rules = {
        r.path: r.rights for r in landlock.rules(scratch=tmp_path, needed=[], hidden=[], version=7)
    }
    assert rules["/dev"] == landlock.READ_DIR
    assert rules["/dev/null"] & landlock.WRITE_FILE and rules["/dev/urandom"] & landlock.READ_FILE
    assert not [path for path in rules if path.startswith("/dev/shm") or path == "/dev/kmsg"]


@pytest.mark.parametrize(
    ("bwrap_problem", "abi", "level"),
    [
        (None, 7, "namespaces"),
        ("bubblewrap (bwrap) is not installed", 7, "landlock"),
        ("bubblewrap (bwrap) is not installed", 0, "rlimits"),
    ],
)
def test_the_level_is_the_strongest_this_machine_allows(
    monkeypatch: pytest.MonkeyPatch, bwrap_problem: str | None, abi: int, level: str
) -> None:
    monkeypatch.delenv(sandbox.SANDBOX_ENV, raising=False)
    monkeypatch.setattr(sandbox, "_why_no_namespaces", lambda: bwrap_problem)
    monkeypatch.setattr(landlock, "abi", lambda: abi)
    sandbox.sandbox_level.cache_clear()
    try:
        chosen = sandbox.sandbox_level()
        assert chosen.level == level
        description = chosen.describe()
        if level == "landlock":
            assert "ABI 7" in description and "cannot signal the baseline" in description
        if level == "rlimits":
            assert "no Landlock" in chosen.reason and "install bubblewrap" in description
    finally:
        sandbox.sandbox_level.cache_clear()


@needs_landlock
@pytest.mark.slow
def test_nothing_of_the_user_or_the_lab_can_be_read_written_or_signalled(
    outside: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    stack: contextlib.ExitStack,  # noqa: F811
) -> None:
    """What the rlimits level lets graded code do (read the model solution and the user's files,
    write the database, reach the network, signal the referee), refused with Landlock. Files
    may still be *seen* (Landlock does not hide names), not opened."""
    port = stack.enter_context(listening_port())
    source_readme = Path(config.__file__).resolve().parents[1] / "README.md"
    shared_memory = Path(f"/dev/shm/latency-quiz-test-{os.getpid()}")  # another program's
    shared_memory.write_bytes(b"theirs")
    stack.callback(shared_memory.unlink)
    before = {name: snapshot(path) for name, path in outside.items()}
    code = probe(
        f"""
        for path in ({str(outside["home"] / "secret.txt")!r},
                     {str(outside["data"] / "latency-quiz.db")!r},
                     {str(outside["practicals"] / "toy" / "reference.py")!r},
                     {str(outside["practicals"] / "toy" / "grader.py")!r},
                     {str(source_readme)!r}):
            try:
                open(path, "rb").read(1)
                problems.append("read " + path)
            except PermissionError:
                pass
        for folder in ({str(outside["home"])!r}, {str(outside["data"])!r}, "/tmp", "/dev/shm"):
            try:
                pathlib.Path(folder, "planted.txt").write_text("x")
                problems.append("wrote in " + folder)
            except OSError:
                pass
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
            problems.append("reached the network")
        except OSError:
            pass
        for pid in ({os.getpid()}, os.getppid()):
            try:
                os.kill(pid, 0)
                problems.append(f"can signal {{pid}}, outside the sandbox")
            except PermissionError:
                pass
        for device in ({str(shared_memory)!r}, "/dev/kmsg"):
            try:
                open(device, "r+b").close()
                problems.append("opened " + device)
            except OSError:
                pass
        with open("/dev/null", "wb") as null, open("/dev/urandom", "rb") as randomness:
            null.write(randomness.read(8))
        pathlib.Path("scratch-note.txt").write_text("its own folder is writable")
        """
    )
    result = grade(tmp_path, code, sandbox="landlock")
    assert result.passed, result.error
    assert result.device["sandbox"] == "landlock"
    assert {name: snapshot(path) for name, path in outside.items()} == before


SIGNALS_THE_BASELINE = """
import os
import signal
import time

from quiz.lab.api import Check


def grade(ctx):
    baseline = ctx.start_contestant("toy_driver:serve", solution="reference.py")
    baseline.call("double", 1)
    candidate = ctx.start_contestant("toy_driver:serve")
    candidate.call("double", baseline.pid)
    deadline = time.monotonic() + 2  # a stop takes effect once the baseline is next scheduled
    while True:
        with open(f"/proc/{baseline.pid}/stat") as stat:
            state = stat.read().rpartition(")")[2].split()[0]
        if state == "T" or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    os.kill(baseline.pid, signal.SIGCONT)
    return [Check("the baseline runs on", state != "T", message=f"baseline state {state}")]
"""

STOPS_A_PID = """
import os
import signal


def double(x):
    try:
        os.kill(int(x), signal.SIGSTOP)
    except PermissionError:
        pass
    return 2 * x
"""


@needs_landlock
@pytest.mark.slow
@pytest.mark.parametrize(("level", "refused"), [("landlock", True), ("rlimits", False)])
def test_the_candidate_cannot_stop_the_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: str, refused: bool
) -> None:
    """A candidate that SIGSTOPs the baseline's process (its pid is in /proc for a process of the
    same user) slows every baseline call it is timed against. Landlock's signal scope refuses it;
    at the rlimits level it still works, as doctor says there."""
    root = tmp_path / "practicals"
    write_practical(root, grader=SIGNALS_THE_BASELINE)
    monkeypatch.setattr(config, "practicals_dir", lambda: root)
    result = grade(tmp_path, STOPS_A_PID, sandbox=level)
    assert result.error is None, result.error
    assert result.passed is refused, result.checks[0].message
    assert result.device["sandbox"] == level


def test_no_landlock_means_the_rlimits_level_not_a_failed_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(landlock, "abi", lambda: 0)
    confinement = sandbox.confine(
        ["true"],
        scratch=tmp_path,
        hidden=[],
        needed=[],
        threads=1,
        cuda=False,
        cpu_seconds=10,
        level="landlock",
    )
    assert confinement.level == "rlimits"
    assert os.path.basename(confinement.argv[0]) == "true"


def test_an_installed_practical_on_the_referees_path_is_not_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The referee puts the practical's folder on its sys.path. Installed (not editable), that
    folder lies under the interpreter's prefix, and counted as needed it was shown again inside
    the hidden practicals: a Landlock contestant read the model solution of an installed copy."""
    from quiz.lab import referee

    site = tmp_path / "venv" / "lib" / "site-packages"
    practical = site / "quiz" / "_data" / "practicals" / "kv-cache"
    practical.mkdir(parents=True)
    monkeypatch.setattr("sys.prefix", str(tmp_path / "venv"))
    monkeypatch.setattr("sys.path", [str(practical), str(site)])
    needed = set(referee._needed_paths(practical.parent))
    assert site.resolve() in needed
    assert not [path for path in needed if "_data" in path.parts]
    rules = landlock.rules(
        scratch=tmp_path / "scratch",
        needed=needed,
        hidden=[practical.parent, site / "quiz" / "_data"],
        version=7,
    )
    assert not [rule.path for rule in rules if "_data" in rule.path]
