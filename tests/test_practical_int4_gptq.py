"""int4-gptq: the packed format and its validation, the model's outlier channels, the referee's
scoring (in process) of the reference, the starter and cheating submissions; and, marked slow,
real grades through the lab: the reference passes, the starter and every control fail."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from quiz.lab.api import Check
from quiz.lab.catalog import get_practical
from quiz.lab.runner import grade_practical
from tests.lab_fixtures import (
    failed_checks,
    failed_names,
    practical_module,
    shipped_files,
    support_module,
)

PRACTICAL = "int4-gptq"
SMALL_SHAPE = (4, 32)  # sequences x tokens: enough for the fast tests
THRESHOLDS = {"max_bits_per_weight": 4.25, "max_kl_vs_rtn": 0.4}
fmt = support_module(PRACTICAL, "int4_format")
lm = support_module(PRACTICAL, "int4_model")
grader = practical_module(PRACTICAL, "grader.py")


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return lm.build_model()


@pytest.fixture(scope="module")
def calibration(model: torch.nn.Module) -> torch.Tensor:
    return lm.sample_text(model, 1, SMALL_SHAPE)


@pytest.fixture(scope="module")
def held_out(model: torch.nn.Module) -> torch.Tensor:
    return lm.sample_text(model, 2, SMALL_SHAPE)


AWQ_STYLE = """
from int4_format import dequantize, quantize_rtn
from int4_model import quantizable_linears


def quantize(model, calibration):
    linears = quantizable_linears(model)
    inputs = {}
    hooks = [
        linear.register_forward_hook(lambda m, a, o, n=n: inputs.__setitem__(n, a[0].flatten(0, -2)))
        for n, linear in linears.items()
    ]
    model(calibration)
    for hook in hooks:
        hook.remove()
    layers = {}
    for name, linear in linears.items():
        x, w = inputs[name], linear.weight
        activation = x.abs().mean(0)
        best = None
        for alpha in [i / 10 for i in range(11)]:
            scale = activation.pow(alpha).clamp(min=1e-4)
            scale = (scale / (scale.max() * scale.min()).sqrt()).half()
            layer = quantize_rtn(w * scale.float())
            layer["input_scale"] = scale
            error = (x @ (w - dequantize(layer)).t()).pow(2).mean().item()
            if best is None or error < best[0]:
                best = (error, layer)
        layers[name] = best[1]
    return layers


"""


def score(model: torch.nn.Module, packed: object, held_out: torch.Tensor) -> dict[str, Check]:
    checks, _ = grader.score(model, packed, held_out, THRESHOLDS)
    return {c.name: c for c in checks}


def rtn_layers(model: torch.nn.Module) -> dict[str, dict[str, object]]:
    return {n: fmt.quantize_rtn(x.weight) for n, x in lm.quantizable_linears(model).items()}


def test_spec_thresholds_are_the_ones_tested_here() -> None:
    assert get_practical(PRACTICAL).spec.thresholds == THRESHOLDS


def test_has_controls_and_a_three_hint_readme() -> None:
    practical = get_practical(PRACTICAL)
    assert len(practical.controls) >= 4
    assert len(practical.hints) == 3
    for control in practical.controls:
        assert control.read_text().startswith("# "), f"{control.name} must say what it gets wrong"


def test_codes_pack_two_per_byte_even_column_low() -> None:
    codes = torch.randint(16, (5, 12), generator=torch.Generator().manual_seed(0))
    packed = fmt.pack_codes(codes)
    assert packed.dtype == torch.uint8 and packed.shape == (5, 6)
    assert int(packed[0, 0]) == int(codes[0, 0]) + 16 * int(codes[0, 1])
    assert torch.equal(fmt.unpack_codes(packed), codes)


def test_round_to_nearest_is_within_half_a_step_and_costs_4_19_bits() -> None:
    weight = torch.randn(64, 256, generator=torch.Generator().manual_seed(1))
    layer = fmt.validate_layer("w", fmt.quantize_rtn(weight), (64, 256))
    step = layer["scales"].float().repeat_interleave(128, dim=1)
    assert ((fmt.dequantize(layer) - weight).abs() <= step / 2 + 1e-6).all()
    assert fmt.layer_bits(layer) / weight.numel() == pytest.approx(4.1875)


def test_input_scale_divides_the_columns() -> None:
    weight = torch.randn(8, 128, generator=torch.Generator().manual_seed(2))
    scale = torch.linspace(0.5, 4.0, 128).half()
    layer = fmt.quantize_rtn(weight * scale.float())
    layer["input_scale"] = scale
    step = layer["scales"].float().repeat_interleave(128, dim=1) / scale.float()
    assert ((fmt.dequantize(layer) - weight).abs() <= step / 2 + 1e-6).all()
    qweight, scales, zeros, input_scale = 8 * 64 * 8, 8 * 16, 8 * 8, 128 * 16
    assert fmt.layer_bits(layer) == qweight + scales + zeros + input_scale


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"group_size": 256}, "from 1 to 128"),
        ({"group_size": True}, "from 1 to 128"),
        ({"group_size": 96}, "does not divide"),
        ({"qweight": torch.zeros(16, 128, dtype=torch.uint8)}, "qweight must be uint8 [16, 64]"),
        ({"scales": torch.ones(16, 1, dtype=torch.float64)}, "scales must be"),
        ({"zeros": torch.full((16, 1), 16, dtype=torch.uint8)}, "0..15"),
        ({"scales": torch.full((16, 1), float("nan")).half()}, "NaN or inf"),
        ({"input_scale": -torch.ones(128).half()}, "finite and positive"),
        ({"weight": torch.zeros(16, 128)}, "unknown keys ['weight']"),
    ],
)
def test_malformed_layers_are_refused_with_the_reason(
    change: dict[str, object], problem: str
) -> None:
    layer = {**fmt.quantize_rtn(torch.randn(16, 128)), **change}
    with pytest.raises(fmt.FormatError, match="^w: ") as err:
        fmt.validate_layer("w", layer, (16, 128))
    assert problem in str(err.value)


def test_every_linear_input_has_a_few_outlier_channels(
    model: torch.nn.Module, calibration: torch.Tensor
) -> None:
    inputs = grader._layer_inputs(model, calibration)
    assert len(inputs) == 28
    for name, x in inputs.items():
        magnitude = x.abs().mean(0)
        top = magnitude.topk(lm.OUTLIER_CHANNELS).values
        assert (top > 8 * magnitude.median()).all(), name


def test_sampled_text_is_seeded_and_matches_full_recompute_sampling(model: torch.nn.Module) -> None:
    tokens = lm.sample_text(model, 5, (3, 12))
    assert torch.equal(tokens, lm.sample_text(model, 5, (3, 12)))
    assert not torch.equal(tokens, lm.sample_text(model, 6, (3, 12)))
    gen = torch.Generator().manual_seed(5)
    expected = torch.randint(lm.CONFIG.vocab_size, (3, 1), generator=gen)
    with torch.inference_mode():
        for _ in range(11):
            probs = torch.softmax(model(expected)[:, -1], dim=-1)
            expected = torch.cat((expected, torch.multinomial(probs, 1, generator=gen)), dim=1)
    assert torch.equal(tokens, expected)


def test_held_out_seed_is_not_implied_by_the_calibration_seed() -> None:
    # torch's CPU generator keeps 32 bits of a seed: grader seeds that share those bits must
    # still give unrelated held-out text, and the calibration seed must not reveal it.
    seed = 0x1234_5678_9ABC_DEF0
    low32 = 2**32 - 1
    for other in (seed ^ 2**40, seed ^ 2**63):
        assert grader.derived_seed(seed, "held-out") & low32 != (
            grader.derived_seed(other, "held-out") & low32
        )
    assert grader.derived_seed(seed, "held-out") != grader.derived_seed(seed, "calibration")


def test_round_to_nearest_scores_exactly_one(
    model: torch.nn.Module, held_out: torch.Tensor
) -> None:
    checks = score(model, rtn_layers(model), held_out)
    assert checks["packed format"].passed and checks["bits per weight"].passed
    quality = checks["KL vs round-to-nearest"]
    assert not quality.passed and quality.measured == 1.0
    assert "largest activations" in quality.message


def test_weights_hidden_in_the_scales_fail_the_bits_check(
    model: torch.nn.Module, held_out: torch.Tensor
) -> None:
    control = practical_module(PRACTICAL, "controls/fp32_in_scales.py")
    checks = score(model, control.quantize(model, torch.zeros(1, 1, dtype=torch.long)), held_out)
    assert checks["KL vs round-to-nearest"].passed  # the quality is perfect ...
    assert not checks["bits per weight"].passed  # ... and the bytes give it away
    assert checks["bits per weight"].measured == 44.0


@pytest.mark.parametrize("cheat", ["extra fp32 copy", "missing layer", "huge scales", "not a dict"])
def test_smuggled_or_broken_layers_fail_the_format_check(
    model: torch.nn.Module, held_out: torch.Tensor, cheat: str
) -> None:
    layers: object = rtn_layers(model)
    assert isinstance(layers, dict)
    name = next(iter(layers))
    if cheat == "extra fp32 copy":
        layers[name]["dequantized"] = lm.quantizable_linears(model)[name].weight.clone()
    elif cheat == "missing layer":
        del layers[name]
    elif cheat == "huge scales":
        layers[name]["scales"] = torch.full_like(layers[name]["scales"], 3e38, dtype=torch.float32)
    else:
        layers = list(layers.values())
    checks = score(model, layers, held_out)
    assert list(checks) == ["packed format"] and not checks["packed format"].passed


@pytest.mark.slow
def test_reference_clears_the_quality_bar_with_margin(model: torch.nn.Module) -> None:
    reference = practical_module(PRACTICAL, "reference.py")
    calibration = lm.sample_text(model, 1, lm.CALIBRATION_SHAPE)
    held_out = lm.sample_text(model, 2, lm.HELD_OUT_SHAPE)
    with torch.no_grad():
        checks = score(model, reference.quantize(lm.build_model(), calibration), held_out)
    assert all(c.passed for c in checks.values()), checks
    ratio = checks["KL vs round-to-nearest"].measured
    assert isinstance(ratio, float) and ratio < THRESHOLDS["max_kl_vs_rtn"] / 2


@pytest.mark.slow
def test_reference_passes() -> None:
    result = grade_practical(PRACTICAL, shipped_files(PRACTICAL)["reference"], source="reference")
    assert result.passed, failed_checks(result)
    assert result.duration_s < 60


@pytest.mark.slow
def test_an_awq_style_submission_passes(tmp_path: Path) -> None:
    (tmp_path / "solution.py").write_text(AWQ_STYLE, encoding="utf-8")
    result = grade_practical(PRACTICAL, tmp_path, source="path")
    assert result.passed, failed_checks(result)
    assert result.details["bits_per_weight"] > 4.2  # its input scales are counted


EXPECTED_FAILURES = {
    "starter": {"KL vs round-to-nearest"},
    "control:fp32_in_scales": {"bits per weight"},
    "control:groups_of_256": {"packed format"},
    "control:weight_salience": {"KL vs round-to-nearest"},
    "control:one_snippet_calibration": {"KL vs round-to-nearest"},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED_FAILURES))
def test_starter_and_controls_fail_for_their_reason(name: str) -> None:
    result = grade_practical(PRACTICAL, shipped_files(PRACTICAL)[name], source=name)
    assert not result.passed, failed_checks(result)
    assert result.error is None, "a control must fail on its checks, not crash"
    assert failed_names(result) == EXPECTED_FAILURES[name], failed_checks(result)
