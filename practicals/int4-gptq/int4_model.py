"""The model this practical quantizes, the text it is calibrated and graded on, and the driver
the grader talks to.

The model is a 4-layer TinyLM (quiz.lab.tinylm) with synthetic weights drawn from a fixed seed,
then given two features of trained LLMs that make 4-bit quantization hard (see the README):

- **correlated activations**: the token embeddings lie close to a low-dimensional subspace, so
  the inputs of every Linear are strongly correlated across channels;
- **outlier channels**: a few input channels of every Linear carry activations 20x larger
  than the rest (a large RMSNorm gain, or large rows of the previous projection), while the
  matching weight columns are 2x smaller than their neighbours.

Calibration and held-out text is sampled from the model itself (temperature 1), the way
GPTQ/AWQ calibrate on real text from the model's own domain.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from int4_format import dequantize, layer_bits, quantize_rtn
from torch import Tensor, nn

from quiz.lab.tinylm import TinyLM, TinyLMConfig, attend

CONFIG = TinyLMConfig(
    vocab_size=256,
    d_model=256,
    n_layers=4,
    n_heads=8,
    n_kv_heads=2,
    ffn_dim=768,
    max_seq_len=128,
    block_scale=0.75,
    bigram_strength=0.3,
    seed=12,
)
EMBEDDING_RANK = 24  # the subspace the token embeddings lie close to
EMBEDDING_NOISE = 0.15  # the isotropic part of each embedding, relative to the low-rank one
OUTLIER_CHANNELS = 4  # per Linear input
OUTLIER_ACTIVATION = 20.0  # how much larger those channels' activations are
OUTLIER_WEIGHT = 0.5  # how much smaller their weight columns are
CALIBRATION_SHAPE = (32, 64)  # sequences x tokens the grader sends to quantize()
HELD_OUT_SHAPE = (16, 64)  # sequences x tokens the grader scores on (never sent)


def build_model() -> TinyLM:
    """The fp32 model (deterministic: the same weights on every call)."""
    model = TinyLM(CONFIG)
    with torch.no_grad():
        _correlate_embeddings(model)
        _add_outlier_channels(model)
    return model


def quantizable_linears(model: nn.Module) -> dict[str, nn.Linear]:
    """The Linear layers to quantize, by name: every projection in the blocks (the embedding,
    norms and output head stay fp32, as GPTQ and AWQ leave them)."""
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and name.startswith("blocks.")
    }


def with_weights(model: TinyLM, weights: dict[str, Tensor]) -> TinyLM:
    """``model`` with the named Linear weights replaced (in place) by ``weights`` (fp32)."""
    linears = quantizable_linears(model)
    with torch.no_grad():
        for name, weight in weights.items():
            linears[name].weight.copy_(weight)
    return model


@torch.inference_mode()
def sample_text(model: TinyLM, seed: int, shape: tuple[int, int]) -> Tensor:
    """Token ids ``[batch, length]`` sampled from ``model`` at temperature 1 from a random first
    token, with a generator seeded by ``seed``."""
    gen = torch.Generator().manual_seed(seed % 2**63)
    batch, length = shape
    tokens = torch.randint(CONFIG.vocab_size, (batch, 1), generator=gen)
    cache: list[tuple[Tensor, Tensor]] = []
    for pos in range(length - 1):
        h = model.embed(tokens[:, -1:], pos)
        for index, block in enumerate(model.blocks):
            q, k, v = block.attn.project_qkv(block.attn_norm(h), pos)
            if pos:
                k, v = (torch.cat(pair, dim=2) for pair in zip(cache[index], (k, v), strict=True))
                cache[index] = (k, v)
            else:
                cache.append((k, v))
            h = h + block.attn.output(attend(q, k, v))
            h = block.feed_forward(h)
        probs = F.softmax(model.logits(h)[:, -1], dim=-1)
        tokens = torch.cat((tokens, torch.multinomial(probs, 1, generator=gen)), dim=1)
    return tokens


def next_token_kl(reference_logits: Tensor, logits: Tensor) -> float:
    """Mean KL(p_ref || p) of the next-token distributions over every position, in nats."""
    ref = F.log_softmax(reference_logits.float(), dim=-1)
    out = F.log_softmax(logits.float(), dim=-1)
    return (ref.exp() * (ref - out)).sum(-1).mean().item()


def serve(solution: ModuleType, init: dict[str, Any] | None) -> dict[str, Callable[..., Any]]:
    """The contestant's endpoints: ``quantize(calibration)`` calls the solution's
    ``quantize(model, calibration)`` on a fresh fp32 model and returns its packed layers."""
    quantize = getattr(solution, "quantize", None)
    if not callable(quantize):
        raise AttributeError("solution.py must define quantize(model, calibration)")

    def quantize_endpoint(calibration: Tensor) -> Any:
        with torch.no_grad():
            return quantize(build_model(), calibration)

    return {"quantize": quantize_endpoint}


def local_estimate(quantize: Callable[[nn.Module, Tensor], dict[str, Any]]) -> None:
    """Print what the grader measures, on fixed seeds (the grader draws fresh secret ones):
    bits per weight, and the next-token KL of ``quantize``'s layers and of round-to-nearest."""
    fp32 = build_model()
    calibration = sample_text(fp32, 1, CALIBRATION_SHAPE)
    held_out = sample_text(fp32, 2, HELD_OUT_SHAPE)
    linears = quantizable_linears(fp32)
    with torch.no_grad():
        packed = quantize(build_model(), calibration)
    rtn = {name: quantize_rtn(linear.weight) for name, linear in linears.items()}
    bits = sum(map(layer_bits, packed.values())) / sum(x.weight.numel() for x in linears.values())
    with torch.inference_mode():
        reference = fp32(held_out)
        kl, kl_rtn = (
            next_token_kl(reference, with_weights(build_model(), _dequantized(layers))(held_out))
            for layers in (packed, rtn)
        )
    print(f"bits per weight {bits:.3f}")
    print(f"next-token KL: yours {kl:.4f} nats, round-to-nearest {kl_rtn:.4f} nats")
    print(f"ratio {kl / kl_rtn:.3f} (the grader's limit is in the README)")


def _dequantized(layers: dict[str, Any]) -> dict[str, Tensor]:
    return {name: dequantize(layer) for name, layer in layers.items()}


def _generator(name: str) -> torch.Generator:
    return torch.Generator().manual_seed(zlib.crc32(f"{CONFIG.seed}:{name}".encode()))


def _correlate_embeddings(model: TinyLM) -> None:
    """Replace the token embeddings by a low-rank matrix plus a little isotropic noise, with the
    same overall scale (trained LLMs' hidden states are similarly anisotropic)."""
    gen = _generator("embedding")
    vocab, width = model.embed_tokens.weight.shape
    factors = torch.randn(vocab, EMBEDDING_RANK, generator=gen)
    basis = torch.randn(EMBEDDING_RANK, width, generator=gen) / math.sqrt(EMBEDDING_RANK)
    noise = torch.randn(vocab, width, generator=gen) * EMBEDDING_NOISE
    embedding = factors @ basis + noise
    model.embed_tokens.weight.copy_(embedding / embedding.std())


def _add_outlier_channels(model: TinyLM) -> None:
    """Give a few input channels of every Linear large activations and small weight columns.

    Each pair is a scaling of one operation's output and the next one's input: an RMSNorm gain
    and the q/k/v (or gate/up) columns; v_proj rows and the o_proj columns they feed; up rows
    and the down columns they feed.
    """
    gen = _generator("outliers")
    cfg = model.config
    group = cfg.n_heads // cfg.n_kv_heads
    for block in model.blocks:
        attn, mlp = block.attn, block.mlp
        for norm, consumers in (
            (block.attn_norm, (attn.q_proj, attn.k_proj, attn.v_proj)),
            (block.mlp_norm, (mlp.gate, mlp.up)),
        ):
            channels = _pick(cfg.d_model, gen)
            norm.weight[channels] *= OUTLIER_ACTIVATION
            for linear in consumers:
                if linear is not None:
                    linear.weight[:, channels] *= OUTLIER_WEIGHT
        v_rows = _pick(cfg.n_kv_heads * cfg.head_dim, gen)
        attn.v_proj.weight[v_rows] *= OUTLIER_ACTIVATION
        kv_head, dim = v_rows // cfg.head_dim, v_rows % cfg.head_dim
        for member in range(group):
            o_cols = (kv_head * group + member) * cfg.head_dim + dim
            attn.o_proj.weight[:, o_cols] *= OUTLIER_WEIGHT
        up_rows = _pick(cfg.ffn_dim, gen)
        mlp.up.weight[up_rows] *= OUTLIER_ACTIVATION
        mlp.down.weight[:, up_rows] *= OUTLIER_WEIGHT


def _pick(width: int, gen: torch.Generator) -> Tensor:
    return torch.randperm(width, generator=gen)[:OUTLIER_CHANNELS]
