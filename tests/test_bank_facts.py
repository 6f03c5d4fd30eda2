"""Every hardware or model figure the bank quotes is recomputed from the facts file
(quiz/facts/inference-facts.yaml): the numbers in question text, and the values of parameters
named after a model or a GPU."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from quiz import config
from quiz.bank import load_bank
from quiz.bank.schema import ChoicesParam

FACTS: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parent.parent / "quiz" / "facts" / "inference-facts.yaml").read_text()
)
BANK = load_bank()
GiB = 2**30


def model(name: str) -> dict[str, Any]:
    return FACTS["models"][name]


def gpu(name: str) -> dict[str, Any]:
    return FACTS["gpus"][name]


def params(name: str) -> int:
    return int(model(name)["total_params"])


SEEN = FACTS["gpus"]["hbm_capacity_as_seen"]
RIDGE = FACTS["gpus"]["ridge_points_bf16_dense_flop_per_byte"]

# (text as the bank quotes it, the same number recomputed from the facts)
QUOTED: list[tuple[str, Callable[[], float]]] = [
    ("70,553,706,496", lambda: params("Llama-3-70B")),
    ("8,030,261,248", lambda: params("Llama-3-8B")),
    ("70.55 × 10^9", lambda: params("Llama-3-70B") / 1e9),
    ("8.03 × 10^9", lambda: params("Llama-3-8B") / 1e9),
    ("141.1 GB", lambda: 2 * params("Llama-3-70B") / 1e9),
    ("131.4 GiB", lambda: 2 * params("Llama-3-70B") / GiB),
    ("70.6 GB", lambda: params("Llama-3-70B") / 1e9),
    ("17.6 GB", lambda: params("Llama-3-70B") / 4 / 1e9),
    ("37.5 GB", lambda: params("Llama-3-70B") * 4.25 / 8 / 1e9),
    ("35.3 GB", lambda: params("Llama-3-70B") * 0.5 / 1e9),
    ("16.06 GB", lambda: 2 * params("Llama-3-8B") / 1e9),
    ("93.4 GB", lambda: 2 * params("Mixtral-8x7B-v0.1") / 1e9),
    ("12.88 × 10^9", lambda: model("Mixtral-8x7B-v0.1")["active_params_per_token"] / 1e9),
    ("25.8 GB", lambda: 2 * model("Mixtral-8x7B-v0.1")["active_params_per_token"] / 1e9),
    ("327,680 B", lambda: model("Llama-3-70B")["kv_bytes_per_token_fp16"]),
    ("131,072 B", lambda: model("Llama-3-8B")["kv_bytes_per_token_fp16"]),
    ("143,771 MiB", lambda: SEEN["H200_SXM_141GB"]["mib"]),
    ("140.4 GiB", lambda: SEEN["H200_SXM_141GB"]["mib"] / 1024),
    ("81,559 MiB", lambda: SEEN["H100_SXM_80GB"]["mib"]),
    ("79.6 GiB", lambda: SEEN["H100_SXM_80GB"]["mib"] / 1024),
    (
        "about 9 GiB left",
        lambda: SEEN["H200_SXM_141GB"]["mib"] / 1024 - 2 * params("Llama-3-70B") / GiB,
    ),
    ("126.4 GiB", lambda: 0.9 * SEEN["H200_SXM_141GB"]["mib"] / 1024),
    ("about 51 GB to spare", lambda: gpu("MI300X")["memory_gb"] - 2 * params("Llama-3-70B") / 1e9),
    ("3.35 TB/s", lambda: gpu("H100_SXM")["memory_bw_tbs"]),
    ("4.8 TB/s", lambda: gpu("H200_SXM")["memory_bw_tbs"]),
    ("1.555 TB/s", lambda: gpu("A100_40GB_SXM")["memory_bw_tbs"]),
    ("0.3 TB/s", lambda: gpu("L4")["memory_bw_tbs"]),
    ("0.864 for an L40S", lambda: gpu("L40S")["memory_bw_tbs"]),
    ("2.039 for an A100", lambda: gpu("A100_80GB_SXM")["memory_bw_tbs"]),
    ("989 dense BF16 TFLOPS", lambda: gpu("H100_SXM")["bf16_tflops_dense"]),
    ("1,979 dense", lambda: gpu("H100_SXM")["fp8_tflops_dense"]),
    ("about 295", lambda: RIDGE["H100_SXM"]),
    ("≈ 206 FLOP/byte", lambda: RIDGE["H200_SXM"]),
    ("900 GB/s", lambda: gpu("H100_SXM")["nvlink_gbs"]),
    ("450 GB/s", lambda: gpu("H100_SXM")["nvlink_gbs"] / 2),
    ("192 GB", lambda: gpu("MI300X")["memory_gb"]),
    ("48 GB", lambda: gpu("L40S")["memory_gb"]),
    ("24 GB", lambda: gpu("L4")["memory_gb"]),
]
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def bank_text() -> str:
    return "\n".join(path.read_text() for path in sorted(config.bank_dir().glob("*.yaml")))


@pytest.mark.parametrize(("quoted", "recompute"), QUOTED, ids=[q for q, _ in QUOTED])
def test_each_quoted_figure_matches_the_facts(quoted: str, recompute: Callable[[], float]) -> None:
    text = bank_text().replace("\n    ", " ")
    assert quoted in text or quoted.replace(" ", "\n") in text, (
        f"the bank no longer quotes {quoted!r}"
    )
    number = _NUMBER.search(quoted)
    assert number is not None
    written = number[0].replace(",", "")
    decimals = len(written.split(".")[1]) if "." in written else 0
    assert round(recompute(), decimals) == pytest.approx(float(written)), quoted


def _facts_entity(label: str) -> dict[str, Any] | None:
    if label in FACTS["models"]:
        return model(label)
    key = re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_")
    for name in (key, key.replace("_SXM", "") + "_SXM"):
        if name in FACTS["gpus"]:
            reported = {  # the memory the driver reports ("H100_SXM_80GB": its MiB, bytes)
                f"reported_{unit}": figure
                for seen, figures in FACTS["gpus"]["hbm_capacity_as_seen"].items()
                if isinstance(figures, dict) and seen.startswith(f"{name}_")
                for unit, figure in figures.items()
            }
            return {**gpu(name), **reported, "ridge": RIDGE.get(name)}
    return None


def _figures(entity: dict[str, Any]) -> set[float]:
    numbers = {float(v) for v in entity.values() if isinstance(v, int | float) and v}
    return numbers | {round(v / 1e9, 2) for v in numbers if v > 1e9}


def test_parameters_named_after_a_model_or_gpu_carry_its_figures() -> None:
    checked = 0
    for question in BANK:
        for name, spec in getattr(question, "params", {}).items():
            if not isinstance(spec, ChoicesParam):
                continue
            for label, value in spec.choices.items():
                entity = _facts_entity(label)
                if entity is None:
                    continue
                checked += 1
                assert float(value) in _figures(entity), (
                    f"{question.id}: {name} = {value} for {label!r} is no figure of the facts "
                    "file's entry"
                )
    assert checked >= 20
