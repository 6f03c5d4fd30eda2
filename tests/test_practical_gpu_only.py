"""gpu-roofline and cuda-graphs: their pure logic on a CPU (spec lookup by device name, ridge
point, op classification, check building; the capture-ready decode step), their listing as
unavailable without CUDA, and, where a GPU exists, reference / starter / controls through the
runner (benchmarks/gpu_practicals.py runs them end to end with timings)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from quiz.config import practicals_dir
from quiz.errors import LabError
from quiz.lab.catalog import get_practical
from quiz.lab.tinylm import TinyLM
from tests.lab_fixtures import failed_names, grade_shipped, practical_module, support_module

ROOFLINE = "gpu-roofline"
GRAPHS = "cuda-graphs"


rl = support_module(ROOFLINE, "roofline_logic")
ds = support_module(GRAPHS, "decode_step")


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """The decode step on a CPU is many tiny ops; extra threads only add overhead."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


HAS_CUDA = torch.cuda.is_available()
THRESHOLDS = {"agreement": 0.15, "copy_spec_fraction_min": 0.8}


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("NVIDIA H100 80GB HBM3", "H100_SXM"),
        ("NVIDIA H100 PCIe", "H100_PCIe"),
        ("NVIDIA H100 NVL", None),
        ("NVIDIA H200", "H200_SXM"),
        ("NVIDIA A100-SXM4-80GB", "A100_80GB_SXM"),
        ("NVIDIA A100-SXM4-40GB", "A100_40GB_SXM"),
        ("NVIDIA A100 80GB PCIe", None),
        ("NVIDIA L4", "L4"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA L40", None),
        ("AMD Instinct MI300X", "MI300X"),
        ("Tesla T4", None),
        ("NVIDIA GeForce RTX 4090", None),
    ],
)
def test_spec_key_from_device_name(name: str, key: str | None) -> None:
    assert rl.spec_key(name) == key


def test_published_spec_and_ridge_point_come_from_the_facts_file() -> None:
    h100 = rl.published_spec("NVIDIA H100 80GB HBM3")
    assert h100 is not None
    assert (h100.bandwidth, h100.bf16_flops) == (3.35e12, 989e12)
    assert h100.ridge == pytest.approx(295.2, abs=0.1)  # facts: 295.3 with 989.4 TFLOPS
    a100 = rl.published_spec("NVIDIA A100-SXM4-80GB")
    assert a100 is not None and a100.ridge == pytest.approx(153.0, abs=0.1)
    assert rl.published_spec("Tesla T4") is None


def test_every_op_is_unambiguous_on_every_gpu_in_the_facts_table() -> None:
    ridges = [153.0, 420.0]  # the lowest and highest bf16 ridge points in the facts table
    for op in rl.OPS:
        assert op.intensity <= 0.5 * min(ridges) or op.intensity >= 2 * max(ridges), op.name
    by_name = {op.name: op for op in rl.OPS}
    assert by_name["decode-gemv"].intensity == pytest.approx(1.0, abs=0.01)
    assert by_name["decode-batch-64"].intensity == pytest.approx(63.0, abs=0.1)
    assert by_name["prefill-gemm"].intensity == pytest.approx(2048.0)
    assert by_name["decode-attention"].intensity == pytest.approx(8.0, abs=0.05)
    assert rl.classify(100, 295) == "memory" and rl.classify(300, 295) == "compute"


def _result(copy: float, flops: float, ridge: float | None = None, classes=None) -> dict:
    ridge = flops / copy if ridge is None else ridge
    if classes is None:
        classes = {op.name: rl.classify(op.intensity, ridge) for op in rl.OPS}
    return {"copy_bandwidth": copy, "matmul_flops": flops, "ridge_point": ridge, "classes": classes}


H100 = rl.published_spec("NVIDIA H100 80GB HBM3")
OWN = rl.Measured(copy_bandwidth=2.9e12, matmul_flops=700e12)


def test_checks_pass_a_good_measurement() -> None:
    checks = rl.build_checks(_result(2.95e12, 690e12), OWN, H100, THRESHOLDS)
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    assert len(checks) == 5


def test_checks_catch_one_way_bytes_spec_copying_and_misclassification() -> None:
    half = {c.name: c for c in rl.build_checks(_result(1.45e12, 700e12), OWN, H100, THRESHOLDS)}
    assert not half["copy bandwidth matches the grader's"].passed
    assert not half["copy bandwidth near the published spec"].passed
    assert not half["ridge point"].passed
    spec = {c.name: c for c in rl.build_checks(_result(3.35e12, 989e12), OWN, H100, THRESHOLDS)}
    assert not spec["matmul throughput matches the grader's"].passed
    classes = {op.name: "memory" for op in rl.OPS}
    wrong = {c.name: c for c in rl.build_checks(_result(2.9e12, 700e12, classes=classes), OWN,
                                                H100, THRESHOLDS)}  # fmt: skip
    assert not wrong["ops classified"].passed
    assert "prefill-gemm" in wrong["ops classified"].message
    inconsistent = rl.build_checks(_result(2.9e12, 700e12, ridge=100.0), OWN, H100, THRESHOLDS)
    assert not next(c for c in inconsistent if c.name == "ridge point").passed


def test_unknown_gpu_is_graded_against_the_measurement_only() -> None:
    checks = {c.name: c for c in rl.build_checks(_result(2.9e12, 700e12), OWN, None, THRESHOLDS)}
    spec_check = checks["copy bandwidth near the published spec"]
    assert spec_check.passed and "no published spec" in spec_check.message


@pytest.mark.parametrize(
    ("result", "words"),
    [
        ([], "must return a dict"),
        ({"copy_bandwidth": 1.0}, "lacks matmul_flops"),
        (_result(-1.0, 1.0), "positive number"),
        ({**_result(1.0, 1.0), "classes": ["memory"]}, "classes must map"),
    ],
)
def test_validate_names_the_problem(result: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        rl.validate(result)


def test_decode_step_matches_full_forward_with_static_buffers() -> None:
    model = TinyLM(ds.CONFIG)
    step = ds.DecodeStep(model, batch=2, device=torch.device("cpu"))
    tokens = torch.randint(
        ds.CONFIG.vocab_size, (2, 12), generator=torch.Generator().manual_seed(4)
    )
    full = model(tokens)
    buffers = (step.tokens.data_ptr(), step.position.data_ptr(), step.logits.data_ptr())
    for position in range(12):
        step.tokens.copy_(tokens[:, position : position + 1])
        step.position.fill_(position)
        out = step()
        assert out.data_ptr() == buffers[2]  # the same output buffer every call
        torch.testing.assert_close(out, full[:, position], rtol=1e-4, atol=1e-4)
    assert (step.tokens.data_ptr(), step.position.data_ptr()) == buffers[:2]


@pytest.mark.skipif(HAS_CUDA, reason="this machine has a GPU")
@pytest.mark.parametrize("practical_id", ["gpu-roofline", "cuda-graphs"])
def test_listed_unavailable_without_cuda_and_refused_by_the_runner(practical_id: str) -> None:
    from quiz.lab.runner import grade_practical

    practical = get_practical(practical_id)
    assert practical.spec.device == "cuda"
    assert not practical.availability.available
    assert "CUDA" in practical.availability.reason
    with pytest.raises(LabError, match="CUDA"):
        grade_practical(practical_id, practical.file("reference.py"), source="reference")


# --- on a GPU, through the real runner ----------------------------------------------------

CONTROL_FAILURES = {
    "gpu-roofline": {
        "one_way_bytes": "copy bandwidth matches the grader's",
        "spec_sheet": "matmul throughput matches the grader's",
    },
    "cuda-graphs": {
        "cached_logits": "identical to the eager step",
        "private_buffers": "identical to the eager step",
    },
}


@pytest.mark.parametrize("practical_id", sorted(CONTROL_FAILURES))
def test_every_control_is_listed(practical_id: str) -> None:
    folder = practicals_dir() / practical_id / "controls"
    assert {p.stem for p in folder.glob("*.py")} == set(CONTROL_FAILURES[practical_id])


@pytest.mark.slow
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("practical_id", sorted(CONTROL_FAILURES))
def test_reference_passes_and_starter_fails_on_gpu(practical_id: str) -> None:
    folder = practicals_dir() / practical_id
    reference = grade_shipped(practical_id, folder / "reference.py", "reference")
    assert reference.error is None and reference.passed, reference.checks
    starter = grade_shipped(practical_id, folder / "starter.py", "starter")
    assert not starter.passed


@pytest.mark.slow
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize(
    ("practical_id", "name"),
    [(p, n) for p, controls in sorted(CONTROL_FAILURES.items()) for n in sorted(controls)],
)
def test_control_fails_on_gpu(practical_id: str, name: str) -> None:
    folder = practicals_dir() / practical_id
    result = grade_shipped(practical_id, folder / "controls" / f"{name}.py", f"control:{name}")
    assert result.error is None, result.error
    failed = failed_names(result)
    assert CONTROL_FAILURES[practical_id][name] in failed


def test_cuda_graphs_endpoint_and_referee_agree_and_stale_outputs_are_caught() -> None:
    """The contestant's ``steps`` endpoint over the eager baseline, run on a CPU, matches the
    referee's own eager decode, called the way the identity check calls it and the way the
    harness times it (one argument: what ``make_inputs`` drew); a stale answer is caught at the
    first step that differs."""
    grader = practical_module(GRAPHS, "grader.py")
    baseline = practical_module(GRAPHS, "baseline.py")
    cpu = torch.device("cpu")
    steps = ds.serve(baseline, {"batch": 1, "device": "cpu"})["steps"]
    tokens, positions = grader.sequence(seed=5, batch=1, count=6)
    want = grader.eager_logits(tokens, positions, cpu)
    assert grader.compare_steps(steps((tokens, positions)), want).passed

    stale = want[0].expand_as(want).clone()
    check = grader.compare_steps(stale, want)
    assert not check.passed and check.measured == 1
    assert not grader.compare_steps([1, 2], want).passed

    first = grader.make_inputs(1)(123)
    again = grader.make_inputs(1)(124)
    assert first[0].shape == (grader.STEPS_PER_REQUEST, 1, 1)
    assert not torch.equal(first[0], again[0])  # fresh inputs per trial
    one, other = (ds.serve(baseline, {"batch": 1, "device": "cpu"})["steps"] for _ in range(2))
    one(grader.make_inputs(1)(99))  # one side called more often than the other
    timed = one(first)
    assert timed.shape == (grader.STEPS_PER_REQUEST, 1, ds.CONFIG.vocab_size)
    grader._check(first, other(first), timed)  # what the timed comparison checks


def test_roofline_endpoint_calls_measure_on_the_gpu() -> None:
    from types import SimpleNamespace

    seen: list[torch.device] = []

    def measure(device: torch.device) -> dict[str, float]:
        seen.append(device)
        return {}

    endpoints = rl.serve(SimpleNamespace(measure=measure), None)
    assert endpoints["measure"]() == {} and seen == [torch.device("cuda")]
    with pytest.raises(AttributeError, match="measure"):
        rl.serve(SimpleNamespace(), None)
