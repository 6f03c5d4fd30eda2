"""speculative-decoding: the models and cache behind it, the reference's exactness and call
count, the driver and the grader's remote target, and (slow) reference, starter, controls, a
baseline-sabotaging submission and one that never calls the target it is given, through the
real runner, referee and sandboxed contestants."""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from quiz.config import practicals_dir
from quiz.lab.runner import LabResult
from quiz.lab.tinylm import generate_full_recompute, random_prompt
from tests.lab_fixtures import (
    failed_checks,
    failed_names,
    grade_shipped,
    graded_with_the_rerun_asked_for,
    practical_module,
    support_module,
)

PRACTICAL = "speculative-decoding"
FOLDER = practicals_dir() / PRACTICAL


sm = support_module(PRACTICAL, "spec_models")

# Plain greedy decoding that tries to slow the baseline down instead of speeding itself up: a
# hook on the target that sleeps unless the submission's own flag is set, and the baseline's
# greedy_generate replaced. In one shared process both would hit the baseline; here the
# baseline runs in its own process and neither reaches it.
SABOTAGE_THE_BASELINE = """
import time

import spec_models
import torch

GAMMA = 4
_MINE = [False]
_HOOKED = set()


def _slow_unless_mine(*_):
    if not _MINE[0]:
        time.sleep(0.01)


def _slow_greedy(lm, prompt, n):
    time.sleep(1.0)
    return _real_greedy(lm, prompt, n)


_real_greedy = spec_models.greedy_generate
spec_models.greedy_generate = _slow_greedy


@torch.inference_mode()
def speculative_generate(target, draft, prompt, max_new_tokens, gamma=GAMMA):
    if hasattr(target, "model") and id(target.model) not in _HOOKED:
        target.model.norm.register_forward_pre_hook(_slow_unless_mine)
        _HOOKED.add(id(target.model))
    _MINE[0] = True
    try:
        return _real_greedy(target, prompt, max_new_tokens)
    finally:
        _MINE[0] = False
"""


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Batch-1 decoding of a tiny model is per-op overhead; extra threads only add to it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def models() -> tuple[torch.nn.Module, torch.nn.Module]:
    return sm.build_models()


def test_draft_is_the_targets_first_block_with_its_head(models) -> None:
    target, draft = models
    assert len(target.blocks) == 12 and len(draft.blocks) == 1
    for name, tensor in draft.state_dict().items():
        assert torch.equal(tensor, target.state_dict()[name]), name


def test_cached_greedy_equals_full_recompute(models) -> None:
    target, _ = models
    for seed in range(3):
        prompt = random_prompt(sm.TARGET_CONFIG, 12 + seed, seed)
        want = generate_full_recompute(target, prompt, 24)
        assert torch.equal(sm.greedy_generate(sm.CachedLM(target), prompt, 24), want)


def test_rollback_forgets_positions_exactly(models) -> None:
    target, _ = models
    prompt = random_prompt(sm.TARGET_CONFIG, 10, 5)
    lm = sm.CachedLM(target)
    lm.forward(prompt)
    clean = lm.forward(torch.tensor([7, 8]))
    lm.rollback(10)
    lm.forward(torch.tensor([200, 201, 202]))  # a rejected branch
    lm.rollback(10)
    again = lm.forward(torch.tensor([7, 8]))
    torch.testing.assert_close(again, clean)
    assert (lm.length, lm.calls) == (12, 4)
    with pytest.raises(ValueError, match="cannot roll back"):
        lm.rollback(13)


def test_acceptance_rate_is_realistic(models) -> None:
    target, draft = models
    rates = []
    for seed in range(10):
        prompt = random_prompt(sm.TARGET_CONFIG, 8 + 2 * seed, 100 + seed)
        rates.append(sm.acceptance_rate(target, draft, prompt, sm.greedy_generate(
            sm.CachedLM(target), prompt, 64)))  # fmt: skip
    assert 0.7 <= statistics.mean(rates) <= 0.9  # documented: about 0.83; the issue: 0.5-0.9


def test_leviathan_expectation_matches_the_facts_file() -> None:
    grader = practical_module(PRACTICAL, "grader.py")
    assert grader._expected_tokens_per_call(0.8, 4) == pytest.approx(3.36, abs=0.005)
    assert grader._expected_tokens_per_call(0.6, 3) == pytest.approx(2.18, abs=0.005)
    assert grader._expected_tokens_per_call(1.0, 4) == 5


def test_reference_is_exact_and_calls_the_target_rarely(models) -> None:
    target, draft = models
    reference = practical_module(PRACTICAL, "reference.py")
    calls = tokens = 0
    for seed in range(3):
        prompt = random_prompt(sm.TARGET_CONFIG, 9 + 7 * seed, 40 + seed)
        want = sm.greedy_generate(sm.CachedLM(target), prompt, 64)
        t, d = sm.CachedLM(target), sm.CachedLM(draft)
        got = reference.speculative_generate(t, d, prompt, 64, 4)
        assert torch.equal(got, want)
        calls += t.calls
        tokens += 64
    assert calls <= 0.5 * tokens
    for n in (1, 2, 5):  # surplus tokens from the last round are cut
        prompt = random_prompt(sm.TARGET_CONFIG, 8, 9)
        got = reference.speculative_generate(sm.CachedLM(target), sm.CachedLM(draft), prompt, n)
        assert torch.equal(got, sm.greedy_generate(sm.CachedLM(target), prompt, n))


def test_the_grader_runs_and_counts_every_call_of_the_remote_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    grader = practical_module(PRACTICAL, "grader.py")
    target, draft = sm.build_models(seed=12345)  # not the workspace's weights
    prompt = random_prompt(sm.TARGET_CONFIG, 12, 3)
    want = sm.greedy_generate(sm.CachedLM(target), prompt, 64)
    for name, most_calls in (("reference.py", 32), ("baseline.py", 64)):
        server = grader.TargetServer(target)
        questions: list[set[str]] = []

        def answer(question: dict, server=server, questions=questions) -> object:
            questions.append(set(question))
            return server.answer(question)

        monkeypatch.setattr(sm, "ask_referee", answer)
        endpoints = sm.serve(practical_module(PRACTICAL, name), None)
        assert set(endpoints) == {"use_draft", "generate"}  # no target of its own to time
        endpoints["use_draft"](draft.state_dict())
        reply = endpoints["generate"](prompt)
        assert torch.equal(reply["tokens"], want), name
        assert 0 < server.lm.calls <= most_calls, (name, server.lm.calls)
        assert server.stale_context(prompt, reply["tokens"]) is None, name
        # every question runs a forward pass: a rollback travels with the next one
        assert len(questions) == server.lm.calls and all("forward" in q for q in questions)
        assert ({"forward", "rollback"} in questions) == (name == "reference.py")

    class BadGamma:
        GAMMA = 40
        speculative_generate = practical_module(PRACTICAL, "reference.py").speculative_generate

    with pytest.raises(ValueError, match="GAMMA"):
        sm.serve(BadGamma, None)


def test_the_remote_target_rolls_back_like_a_local_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    grader = practical_module(PRACTICAL, "grader.py")
    target, _ = sm.build_models(seed=7)
    server = grader.TargetServer(target)
    monkeypatch.setattr(sm, "ask_referee", server.answer)
    remote, local = sm.RemoteLM(), sm.CachedLM(target)
    for lm in (remote, local):
        lm.forward(torch.tensor([5, 6, 7]))
        lm.forward(torch.tensor([8, 9]))
        lm.rollback(4)
        assert lm.length == 4
    torch.testing.assert_close(
        remote.forward(torch.tensor([10, 11])), local.forward(torch.tensor([10, 11]))
    )
    assert server.cached == [5, 6, 7, 8, 10, 11] and server.lm.length == 6
    with pytest.raises(ValueError, match="cannot roll back to 7"):
        remote.rollback(7)


def test_a_target_call_on_a_cache_holding_a_rejected_token_is_named() -> None:
    """Without a rollback the target's cache keeps rejected draft tokens, and every later call
    runs on that context: its argmax may still agree with greedy decoding (a shipped control
    passed the token check once that way), but the call itself shows it."""
    grader = practical_module(PRACTICAL, "grader.py")
    prompt, output = torch.tensor([5, 6, 7]), torch.tensor([8, 10, 11])
    for rolled_back in (True, False):
        server = grader.TargetServer(sm.build_models()[0])
        server.answer({"forward": prompt})
        server.answer({"forward": torch.tensor([8, 9])})  # 9 was a draft token, rejected
        if rolled_back:
            server.answer({"rollback": 4})
        server.answer({"forward": torch.tensor([10])})
        problem = server.stale_context(prompt, output)
        if rolled_back:
            assert problem is None
        else:
            assert problem == (
                "target forward call 3 ran with token 9 cached at position 4 (prompt included), "
                "where your output has 10: a rejected draft token left in the target's cache "
                "(roll it back)"
            )


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        ({"forward": torch.tensor([1.5])}, "integers"),
        ({"forward": torch.tensor([[1, 2]])}, "1-D"),
        ({"forward": torch.tensor([256])}, "0..255"),
        ({"forward": torch.zeros(513, dtype=torch.long)}, "at most 512"),
        ({"rollback": 3}, "cannot roll back"),
        ({"rollback": True}, "whole number"),
        ({"forward": torch.tensor([1]), "extra": 1}, "only"),
        ({"forward": torch.tensor([1]), "rollback": 2}, "cannot roll back"),
        ({}, "only"),
    ],
)
def test_the_remote_target_refuses_what_it_cannot_run(question: object, reason: str) -> None:
    grader = practical_module(PRACTICAL, "grader.py")
    server = grader.TargetServer(sm.build_models()[0])
    from quiz.lab.referee import Refused

    with pytest.raises(Refused, match=reason):
        server.answer(question)
    assert server.lm.calls == 0


def _draws_of_plain_targets(
    monkeypatch: pytest.MonkeyPatch, grader: object, plain: int
) -> list[int]:
    """Makes the grader's first ``plain`` draws unmodified 12-block targets (a draft that agrees
    about 0.64 of the time), the later ones as shipped; returns the list each draw's seed lands
    in. Continuations are cut to 24 tokens to keep the test short."""
    monkeypatch.setattr(grader, "NEW_TOKENS", 24)
    draws: list[int] = []

    def build(seed: int) -> tuple[torch.nn.Module, torch.nn.Module]:
        with pytest.MonkeyPatch.context() as patch:
            if len(draws) < plain:
                patch.setattr(sm, "EXTRA_BLOCK_SCALE", 1.0)
            target, draft = sm.build_models(seed)
        draws.append(seed)
        return target, draft

    monkeypatch.setattr(grader, "build_models", build)
    return draws


def test_a_secret_target_whose_draft_agrees_too_rarely_is_redrawn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The speed-up follows the draft's acceptance rate: below the floor the reference once
    measured 1.46x against 1.5x, so such a secret target is drawn again."""
    grader = practical_module(PRACTICAL, "grader.py")
    draws = _draws_of_plain_targets(monkeypatch, grader, plain=1)
    task = grader.secret_task(random.Random(3))
    assert len(draws) == 2
    assert task.acceptance >= grader.MIN_ACCEPTANCE
    assert task.acceptance == grader._mean_acceptance(
        task.target, task.draft, task.prompts, task.expected
    )
    for prompt, want in zip(task.prompts, task.expected, strict=True):
        assert torch.equal(sm.greedy_generate(sm.CachedLM(task.target), prompt, 24), want)


def test_when_no_draw_clears_the_floor_the_best_one_is_graded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    grader = practical_module(PRACTICAL, "grader.py")
    monkeypatch.setattr(grader, "MAX_DRAWS", 3)
    draws = _draws_of_plain_targets(monkeypatch, grader, plain=3)
    seen: list[float] = []
    measure = grader._mean_acceptance

    def recorded(*args: object) -> float:
        seen.append(measure(*args))
        return seen[-1]

    monkeypatch.setattr(grader, "_mean_acceptance", recorded)
    task = grader.secret_task(random.Random(3))
    assert len(draws) == 3 and len(seen) == 3
    assert max(seen) < grader.MIN_ACCEPTANCE  # unmodified targets: about 0.64
    assert task.acceptance == max(seen)


@pytest.mark.parametrize("asks", [(1, 2), (3, 0)])
def test_a_timed_generation_that_never_asked_the_target_fails(asks: tuple[int, int]) -> None:
    """Greedy tokens with no call to the secret target mean a target of its own (its weights
    worked out somehow): the speed-up check fails, however fast."""
    from quiz.lab.harness import Comparison, Timing

    grader = practical_module(PRACTICAL, "grader.py")
    target, _ = sm.build_models(seed=99)

    class Context:
        thresholds = {"speedup_min": 1.5}
        details: dict = {"speculation": {}}

        def compare(self, *_args: object, answerers: tuple, **_options: object) -> Comparison:
            for forwards in asks:  # two timed generations, asking the target this often
                answer = answerers[1](None)
                for _ in range(forwards):
                    answer({"forward": torch.tensor([1, 2])})
            timing = Timing.of([0.01, 0.01])
            return Comparison(3.0, 2.9, 3.1, Timing.of([0.03, 0.03]), timing, False, 2)

    check = grader._speed_check(Context(), None, None, target, 4)
    if 0 in asks:
        assert not check.passed
        assert check.message == (
            "1 of 2 timed generations never called the target you were given, yet returned its "
            "greedy tokens"
        )
    else:
        assert check.passed, check.message
        assert check.message.endswith("42.67 tokens per target call when timed")


def test_token_difference_names_the_first_wrong_token() -> None:
    grader = practical_module(PRACTICAL, "grader.py")
    want = torch.arange(64)
    assert grader.token_difference(want.clone(), want) is None
    wrong = want.clone()
    wrong[9] = 0
    assert "token 9 is 0" in grader.token_difference(wrong, want)
    assert "expected 64 token ids" in grader.token_difference([1, 2], want)


def test_a_rounding_tie_counts_as_greedy_and_a_real_miss_does_not() -> None:
    """The same greedy path computed in other shapes rounds differently (logits up to 8.6e-6
    apart here), so where the top two logits are that close either token is greedy decoding:
    an exact comparison once failed the reference on such a tie."""
    grader = practical_module(PRACTICAL, "grader.py")
    prompt, n = torch.tensor([3, 1, 4]), sm.NEW_TOKENS
    logits = torch.zeros(1, prompt.numel() - 1 + n, sm.TARGET_CONFIG.vocab_size)
    logits[0, :, 7] = 1.0  # token 7 is greedy everywhere ...
    logits[0, prompt.numel() - 1 + 9, 8] = 1.0 - 1e-5  # ... 8 ties with it at position 9
    logits[0, prompt.numel() - 1 + 20, 9] = 1.0 - 1e-3  # ... 9 comes close at 20, no tie

    class FixedLogits:
        config = sm.TARGET_CONFIG

        def __call__(self, sequence: torch.Tensor) -> torch.Tensor:
            padded = torch.cat((logits, torch.zeros(1, 1, logits.shape[2])), 1)
            return padded[:, : sequence.shape[1]]

    model = FixedLogits()

    want = torch.full((n,), 7)
    assert grader.greedy_difference(model, prompt, want.clone(), want) is None
    tie = want.clone()
    tie[9] = 8
    assert grader.greedy_difference(model, prompt, tie, want) is None
    miss = tie.clone()
    miss[20] = 9
    assert grader.greedy_difference(model, prompt, miss, want) == (
        "new token 20 is 9, greedy decoding gives 7"
    )
    assert grader.greedy_difference(model, prompt, tie.float(), want) == (
        "token ids must be integers, not torch.float32"
    )
    out_of_range = tie.clone()
    out_of_range[3] = sm.TARGET_CONFIG.vocab_size
    assert grader.greedy_difference(model, prompt, out_of_range, want) == (
        f"token ids must lie in 0..{sm.TARGET_CONFIG.vocab_size - 1}"
    )


def test_a_tie_is_far_below_what_separates_real_greedy_choices(models) -> None:
    """On the real target the grader's full forward and the cached path agree to well inside
    the tie tolerance, and the tolerance is below the smallest top-two gap on a few prompts."""
    grader = practical_module(PRACTICAL, "grader.py")
    target, _ = models
    for seed in range(3):
        prompt = random_prompt(sm.TARGET_CONFIG, 16, seed)
        want = sm.greedy_generate(sm.CachedLM(target), prompt, sm.NEW_TOKENS)
        with torch.inference_mode():
            full = target(torch.cat((prompt, want)).reshape(1, -1))[0, prompt.numel() - 1 : -1]
        assert torch.equal(full.argmax(-1), want)
        top2 = full.topk(2, -1).values
        assert float((top2[:, 0] - top2[:, 1]).min()) > grader.TIE_TOLERANCE
        assert grader.greedy_difference(target, prompt, want.clone(), want) is None


# --- through the real runner --------------------------------------------------------------


@pytest.mark.slow
def test_starter_fails() -> None:
    result = grade_shipped(PRACTICAL, FOLDER / "starter.py", "starter")
    assert result.error is None, result.error
    assert {"target calls <= 0.5 x tokens", "speed-up vs greedy"} <= failed_names(result)


CONTROL_FAILURES = {
    "draft_is_target": "speed-up vs greedy",
    "no_rollback": "identical to greedy decoding",
    "skip_verification": "identical to greedy decoding",
}


def test_every_control_is_listed() -> None:
    assert {p.stem for p in (FOLDER / "controls").glob("*.py")} == set(CONTROL_FAILURES)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONTROL_FAILURES))
def test_control_fails_for_its_reason(name: str) -> None:
    result = grade_shipped(PRACTICAL, FOLDER / "controls" / f"{name}.py", f"control:{name}")
    assert result.error is None, result.error
    assert not result.passed
    assert CONTROL_FAILURES[name] in failed_names(result)


def grade_submission(tmp_path: Path, code: str) -> LabResult:
    """``code`` graded as the user's solution; it must be graded, not crash the lab."""
    (tmp_path / "solution.py").write_text(code, encoding="utf-8")
    result = grade_shipped(PRACTICAL, tmp_path, "path")
    assert result.error is None, result.error
    return result


@pytest.mark.slow
def test_hooks_and_patches_do_not_reach_the_baseline(tmp_path: Path) -> None:
    result = grade_submission(tmp_path, SABOTAGE_THE_BASELINE)
    assert "speed-up vs greedy" in failed_names(result), failed_checks(result)
    speed = next(c for c in result.checks if c.name == "speed-up vs greedy")
    # A true 1.0x: 0.97-0.98x idle, up to 1.38x with the other tests running beside it. Had the
    # sabotage reached the baseline, its 1 s sleep alone would make each call several times longer.
    assert isinstance(speed.measured, float) and speed.measured < 1.5, speed.message


# Never calls the target it is given: greedy decoding of the workspace's own target, built
# locally. When the call count was taken in the contestant this made 0 target calls; the counted
# target now has secret weights and runs in the grader, so the tokens are wrong instead.
LOCAL_TARGET = """
from spec_models import CachedLM, build_models, greedy_generate

GAMMA = 4
_TARGET = build_models()[0]


def speculative_generate(target, draft, prompt, max_new_tokens, gamma=GAMMA):
    return greedy_generate(CachedLM(_TARGET), prompt, max_new_tokens)
"""


@pytest.mark.slow
def test_a_target_of_its_own_is_not_the_one_the_grader_counts(tmp_path: Path) -> None:
    result = grade_submission(tmp_path, LOCAL_TARGET)
    failed = failed_names(result)
    assert "identical to greedy decoding" in failed, failed_checks(result)
    assert "target calls <= 0.5 x tokens" in failed, "no call of the grader's target is no pass"


# Speculates on the first five generations (the ones whose target calls the grader counts) and
# runs plain greedy decoding after that. When the timed runs had a local copy of the target, a
# hand-fused greedy loop on it passed at 1.65x; the timed runs now use the grader's remote target
# too, so every greedy token costs a target forward pass in the grader's time.
SPECULATES_ONLY_WHEN_COUNTED = (
    (FOLDER / "reference.py")
    .read_text(encoding="utf-8")
    .replace("def speculative_generate(", "def _speculate(")
    + """
from spec_models import greedy_generate

_CALLS = [0]


def speculative_generate(target, draft, prompt, max_new_tokens, gamma=GAMMA):
    _CALLS[0] += 1
    if _CALLS[0] <= 5:
        return _speculate(target, draft, prompt, max_new_tokens, gamma)
    return greedy_generate(target, prompt, max_new_tokens)
"""
)


@pytest.mark.slow
def test_speculating_only_while_counted_is_not_faster(tmp_path: Path) -> None:
    result = grade_submission(tmp_path, SPECULATES_ONLY_WHEN_COUNTED)
    assert failed_names(result) == {"speed-up vs greedy"}, failed_checks(result)
    assert result.details["speculation"]["timed_tokens_per_target_call"] < 1.5


@pytest.mark.slow
def test_the_reference_passes_beside_an_edited_workspace_copy_of_the_models_module(
    tmp_path: Path,
) -> None:
    """The reference, graded from a workspace as a user's solution is (one grade serves both
    checks: the timing phase runs grades one at a time). The workspace gets spec_models.py to
    try a solution locally; an edited copy there (here one whose driver would fail every call)
    is not the driver the grade runs."""
    (tmp_path / "spec_models.py").write_text(
        (FOLDER / "spec_models.py").read_text(encoding="utf-8")
        + "\n\ndef serve(solution, init):\n    raise RuntimeError('the workspace copy ran')\n",
        encoding="utf-8",
    )
    reference = (FOLDER / "reference.py").read_text(encoding="utf-8")
    result = graded_with_the_rerun_asked_for(lambda: grade_submission(tmp_path, reference))
    assert result.passed, failed_checks(result)
    spec = result.details["speculation"]
    grader = practical_module(PRACTICAL, "grader.py")
    assert grader.MIN_ACCEPTANCE <= spec["acceptance_rate_alpha"] <= 1
    assert spec["tokens_per_target_call"] >= 2
    speed = next(c for c in result.checks if c.name == "speed-up vs greedy")
    headline = result.details["headline"]  # what benchmarks/practicals.py reports
    assert headline["value"] == speed.measured and headline["ci_low"] >= 1.5, headline
