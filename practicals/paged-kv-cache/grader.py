"""Grades paged-kv-cache (referee side). The submission's block manager and paged forward pass
run in a contestant process; this side decides what to decode, recomputes every key and value
it checks with its own copy of the model, and counts blocks from the block tables that cross the
channel, never from what the submission says about itself.

Checks: greedy tokens equal a contiguous cache's (and the cached K/V equal recomputed ones);
every sequence wastes less than one block; a fork shares its parent's full blocks and copies on
write; and on a trace of mixed-length requests under a fixed pool, at least twice as many
sequences run at once as with a cache that reserves the maximum length per sequence (that
baseline runs the same trace in its own process).
"""

from __future__ import annotations

import random
from collections import deque
from typing import TYPE_CHECKING, Any

import torch
from paged_model import BLOCK_SIZE, CONFIG, build_model
from torch import Tensor

from quiz.lab.api import Check, GradeContext, SubmissionError
from quiz.lab.tinylm import TinyLM, attend, generate_full_recompute, greedy_mismatch

if TYPE_CHECKING:
    from quiz.lab.referee import Contestant

DRIVER = "paged_model:serve"
NUM_BLOCKS = 256  # the pool: 256 blocks x 16 positions x 2 KiB = 8 MiB
CHECKED_NEW_TOKENS = 24
FORK_NEW_TOKENS = 16
TRACE_REQUESTS = 96
MIN_PROMPT = 8
MAX_PROMPT = 496
MAX_OUTPUT = 16
VERIFY_EVERY = 6  # trace iterations between block-table audits
KV_TOLERANCE = 1e-4
TIE_MARGIN = 1e-3  # see compare_tokens
# How much more private memory than the reserving cache's process yours may hold at its highest
# while serving the same trace (both hold the same pool; the reference measured +0.03 MiB): a
# cache that kept each sequence's keys and values in a private 512-position buffer of its own,
# and wrote the pool only as a mirror, held +26 MiB and ran 3.4x the sequences "at once".
MEMORY_ALLOWANCE_BYTES = 4 * 2**20
KIB = 1024
TOKENS_CHECK = "tokens and cached K/V match a contiguous cache"
WASTE_CHECK = "waste per sequence below one block"
FORK_CHECK = "fork shares its blocks (copy-on-write)"
CAPACITY_CHECK = "sequences served at once vs max-length reservation"


class Audit:
    """What the referee has seen of one contestant's block tables."""

    def __init__(self) -> None:
        self.tables_seen = 0
        self.worst_waste = 0  # positions
        self.worst_where = ""


class Sequence:
    """A sequence as the referee tracks it: every token fed to the model, in order."""

    def __init__(self, seq_id: int, fed: list[int], next_token: int) -> None:
        self.seq_id = seq_id
        self.fed = fed
        self.next_token = next_token
        self.output_len = 0
        self.generated = 0

    @property
    def final_blocks(self) -> int:
        """Blocks a paged cache needs when this sequence finishes (its last token is not fed)."""
        return -(-(len(self.fed) + self.output_len - 1) // BLOCK_SIZE)


class TraceResult:
    def __init__(self) -> None:
        self.saturated_batches: list[int] = []
        self.peak = 0
        self.iterations = 0
        self.memory_peak = 0  # the process's private memory at its highest read, bytes
        # add() refusals while the block tables left room for the prompt
        self.unexplained_refusals = 0
        self.free_at_refusal = 0

    @property
    def mean_concurrency(self) -> float:
        batches = self.saturated_batches
        return sum(batches) / len(batches) if batches else 0.0


def grade(ctx: GradeContext) -> list[Check]:
    """Each check gets a fresh contestant, so one check's leftovers cannot fail another."""
    rng = random.Random(ctx.seed)
    model = build_model()
    init = {"num_blocks": NUM_BLOCKS, "block_size": BLOCK_SIZE}
    audit = Audit()

    def fresh() -> Contestant:
        return ctx.start_contestant(DRIVER, init=init)

    tokens = _checked(TOKENS_CHECK, lambda: tokens_check(ctx, fresh(), model, rng, audit))
    fork = _checked(FORK_CHECK, lambda: fork_check(ctx, fresh(), model, rng, audit))
    baseline = ctx.start_contestant(DRIVER, solution="baseline.py", role="baseline", init=init)
    capacity = _checked(
        CAPACITY_CHECK,
        lambda: capacity_check(ctx, baseline, fresh(), model, rng, audit),
        ctx.thresholds["min_concurrency_ratio"],
        "x",
    )
    return [tokens, waste_check(audit), fork, capacity]


def _checked(name: str, run: Any, threshold: float | None = None, unit: str = "") -> Check:
    """The check ``run`` returns, or a failed one carrying the reason it stopped."""
    try:
        result: Check = run()
    except (AssertionError, SubmissionError) as err:
        return Check(name, False, None, threshold, unit, str(err))
    return result


def tokens_check(
    ctx: GradeContext, contestant: Contestant, model: TinyLM, rng: random.Random, audit: Audit
) -> Check:
    lengths = [rng.randint(1, BLOCK_SIZE - 1), BLOCK_SIZE * rng.randint(2, 4), rng.randint(40, 120)]
    ctx.log(f"decoding prompts of {lengths} tokens through your paged cache")
    sequences = []
    for seq_id, length in enumerate(lengths, start=1):
        prompt = _random_tokens(rng, length)
        sequence = _add(contestant, seq_id, prompt)
        if sequence is None:
            raise AssertionError(f"add() refused a {length}-token prompt in an empty pool")
        new_tokens = [sequence.next_token]
        for _ in range(CHECKED_NEW_TOKENS - 1):
            _step(contestant, [sequence])
            new_tokens.append(sequence.next_token)
        expected = generate_full_recompute(model, torch.tensor(prompt), CHECKED_NEW_TOKENS)
        try:
            compare_tokens(model, torch.tensor(prompt), expected, torch.tensor(new_tokens))
        except AssertionError as err:
            raise AssertionError(f"prompt of {length} tokens: {err}") from None
        sequences.append(sequence)
    verify_tables(contestant, {s.seq_id: s for s in sequences}, audit, exclusive=True)
    for sequence in sequences:
        verify_kv(contestant, model, sequence, _tables(contestant)[sequence.seq_id])
        contestant.call("free", sequence.seq_id)
    if _tables(contestant):
        raise AssertionError("tables() still lists sequences after free()")
    message = (
        f"{CHECKED_NEW_TOKENS} greedy tokens identical to full recompute for prompts of {lengths} "
        "tokens; every cached key and value equals the recomputed one"
    )
    return Check(TOKENS_CHECK, True, len(lengths), len(lengths), "prompts", message)


def fork_check(
    ctx: GradeContext, contestant: Contestant, model: TinyLM, rng: random.Random, audit: Audit
) -> Check:
    length = BLOCK_SIZE * rng.randint(2, 5) + rng.randint(1, BLOCK_SIZE - 1)
    full_blocks = length // BLOCK_SIZE
    ctx.log(f"forking a {length}-token sequence and decoding both branches")
    parent = _add(contestant, 100, _random_tokens(rng, length))
    if parent is None:
        raise AssertionError(f"add() refused a {length}-token prompt in an empty pool")
    contestant.call("fork", 100, 101)
    child = Sequence(101, list(parent.fed), (parent.next_token + 1) % CONFIG.vocab_size)
    tables = _tables(contestant)
    shared_at_fork = _shared_prefix(tables[100], tables[101])
    if shared_at_fork < full_blocks:
        raise AssertionError(
            f"right after fork() the child shares {shared_at_fork} of the parent's {full_blocks} "
            "full blocks; a fork should point at the parent's blocks, not copy them"
        )
    for _ in range(FORK_NEW_TOKENS):
        _step(contestant, [parent, child])
    live = {100: parent, 101: child}
    tables = verify_tables(contestant, live, audit, exclusive=False)
    for sequence in (parent, child):
        try:
            verify_kv(contestant, model, sequence, tables[sequence.seq_id])
        except AssertionError as err:
            raise AssertionError(
                f"after the branches were fed different tokens, {err}: did one branch write into "
                "a block the other still reads?"
            ) from None
    shared = _shared_prefix(tables[100], tables[101])
    distinct = len(set(tables[100]) | set(tables[101]))
    block_kib = _block_bytes() // KIB
    if shared < full_blocks:
        raise AssertionError(
            f"after both branches wrote, they share {shared} of the prompt's {full_blocks} full "
            "blocks; only the partly filled block needs a copy"
        )
    both = set(tables[100][shared:]) & set(tables[101][shared:])
    if both:
        raise AssertionError(
            f"after both branches wrote different tokens, blocks {sorted(both)} past their common "
            "prefix are still in both tables"
        )
    _fill_the_rest(contestant, rng, tables)
    message = (
        f"the branches share {shared} blocks ({shared * block_kib} KiB held once) and hold "
        f"{distinct} blocks in all, where two copies would hold "
        f"{len(tables[100]) + len(tables[101])}; the partly filled block was copied on write"
    )
    return Check(FORK_CHECK, True, shared, full_blocks, "blocks", message)


def _fill_the_rest(
    contestant: Contestant, rng: random.Random, tables: dict[int, list[int]]
) -> None:
    """Add sequences until the pool is full by the tables' count; a refusal before then means
    blocks are held that no table shows (a fork that copies while its table claims sharing)."""
    free = NUM_BLOCKS - len({b for table in tables.values() for b in table})
    per_sequence = CONFIG.max_seq_len // BLOCK_SIZE
    seq_id = 200
    while free > 0:
        blocks = min(free, per_sequence)
        if _add(contestant, seq_id, _random_tokens(rng, blocks * BLOCK_SIZE)) is None:
            raise AssertionError(
                f"with the forked branches live, add() refused a {blocks}-block prompt although "
                f"the block tables leave {free} of {NUM_BLOCKS} blocks free: blocks are held that "
                "no table shows, or add() asks for more blocks than a prompt needs"
            )
        free -= blocks
        seq_id += 1


def capacity_check(
    ctx: GradeContext,
    baseline: Contestant,
    candidate: Contestant,
    model: TinyLM,
    rng: random.Random,
    audit: Audit,
) -> Check:
    threshold = ctx.thresholds["min_concurrency_ratio"]
    requests = trace_requests(rng)
    pool_kib = NUM_BLOCKS * _block_bytes() // KIB
    ctx.log(f"serving {len(requests)} requests of mixed lengths in a {pool_kib} KiB pool: baseline")
    base = run_trace(baseline, model, requests, random.Random(rng.getrandbits(63)), None)
    ctx.log("serving the same requests through your paged cache")
    cand = run_trace(candidate, model, requests, random.Random(rng.getrandbits(63)), audit)
    ratio = cand.mean_concurrency / base.mean_concurrency
    ctx.details["capacity"] = {
        "baseline_mean": base.mean_concurrency,
        "baseline_peak": base.peak,
        "candidate_mean": cand.mean_concurrency,
        "candidate_peak": cand.peak,
        "iterations": [base.iterations, cand.iterations],
        "memory_peak_mib": [round(r.memory_peak / 2**20, 2) for r in (base, cand)],
    }
    ctx.details["headline"] = {
        "name": "concurrency vs reservation",
        "value": round(ratio, 2),
        "unit": "x",
    }
    message = (
        f"with requests waiting, {cand.mean_concurrency:.1f} sequences ran at once on average "
        f"(peak {cand.peak}) against {base.mean_concurrency:.1f} (peak {base.peak}) for the cache "
        f"reserving {CONFIG.max_seq_len} positions each: {ratio:.2f}x, threshold {threshold:g}x"
    )
    extra = cand.memory_peak - base.memory_peak
    if extra > MEMORY_ALLOWANCE_BYTES:
        message += (
            f"; but your process held {extra / 2**20:.1f} MiB more than the reserving cache's "
            f"at its highest (more than {MEMORY_ALLOWANCE_BYTES // 2**20} MiB; both hold the "
            f"same {pool_kib // KIB} MiB pool, read from /proc): keys and values kept outside "
            "the pool do not count as served from it"
        )
        return Check(CAPACITY_CHECK, False, round(ratio, 2), threshold, "x", message)
    if cand.unexplained_refusals:
        message += (
            f"; add() refused {cand.unexplained_refusals} prompts although the block tables left "
            f"enough blocks free for them (up to {cand.free_at_refusal}): it asks for more blocks "
            "than a prompt needs, or holds blocks that no table shows"
        )
    return Check(CAPACITY_CHECK, ratio >= threshold, round(ratio, 2), threshold, "x", message)


def waste_check(audit: Audit) -> Check:
    waste_kib = audit.worst_waste * _block_bytes() / BLOCK_SIZE / KIB
    block_kib = _block_bytes() / KIB
    if not audit.tables_seen:
        return Check(
            WASTE_CHECK, False, None, block_kib, "KiB", "not measured: no block table was checked"
        )
    passed = audit.worst_waste < BLOCK_SIZE
    where = f" ({audit.worst_where})" if audit.worst_where else ""
    message = (
        f"the most unused positions any sequence's blocks held was {audit.worst_waste}{where}: "
        f"{waste_kib:.0f} KiB against one block of {BLOCK_SIZE} positions = {block_kib:.0f} KiB"
    )
    return Check(WASTE_CHECK, passed, round(waste_kib, 1), block_kib, "KiB", message)


def trace_requests(rng: random.Random) -> list[tuple[list[int], int]]:
    """(prompt, output length) pairs: prompt lengths log-uniform MIN_PROMPT..MAX_PROMPT, outputs
    1..MAX_OUTPUT; the output length stays here (the contestant sees tokens arrive, then stop)."""
    requests = []
    for _ in range(TRACE_REQUESTS):
        length = round(MIN_PROMPT * (MAX_PROMPT / MIN_PROMPT) ** rng.random())
        requests.append((_random_tokens(rng, length), rng.randint(1, MAX_OUTPUT)))
    return requests


def run_trace(
    contestant: Contestant,
    model: TinyLM,
    requests: list[tuple[list[int], int]],
    rng: random.Random,
    audit: Audit | None,
) -> TraceResult:
    """Serve ``requests`` first come, first served. A request is offered to the contestant when
    the blocks it will need at its end, added to those of every running sequence, fit the pool
    (so a cache that allocates only what it uses never runs out); the contestant's ``add`` may
    still refuse. Each iteration decodes one token for every running sequence."""
    waiting = deque(enumerate(requests, start=1000))
    running: dict[int, Sequence] = {}
    result = TraceResult()
    while waiting or running:
        needed = sum(s.final_blocks for s in running.values())
        while waiting:
            seq_id, (prompt, output_len) = waiting[0]
            if needed + -(-(len(prompt) + output_len - 1) // BLOCK_SIZE) > NUM_BLOCKS:
                break
            sequence = _add(contestant, seq_id, prompt)
            if sequence is None:
                if audit is not None:
                    _note_refusal(contestant, result, len(prompt))
                if not running:
                    raise AssertionError(
                        f"add() refused a {len(prompt)}-token prompt in an empty pool"
                    )
                break
            waiting.popleft()
            sequence.output_len, sequence.generated = output_len, 1
            running[seq_id] = sequence
            needed += sequence.final_blocks
        if waiting:
            result.saturated_batches.append(len(running))
        result.peak = max(result.peak, len(running))
        for seq_id in [s for s, seq in running.items() if seq.generated >= seq.output_len]:
            contestant.call("free", seq_id)
            del running[seq_id]
        if running:
            _step(contestant, list(running.values()), needed_blocks=needed)
            for sequence in running.values():
                sequence.generated += 1
        result.iterations += 1
        if result.iterations % VERIFY_EVERY == 0 or not waiting:
            result.memory_peak = max(result.memory_peak, contestant.memory().uss)
            if audit is not None:
                tables = verify_tables(contestant, running, audit, exclusive=True)
                for sequence in rng.sample(list(running.values()), min(2, len(running))):
                    verify_kv(contestant, model, sequence, tables[sequence.seq_id])
    return result


def _note_refusal(contestant: Contestant, result: TraceResult, prompt_len: int) -> None:
    held = {b for table in _tables(contestant).values() for b in table}
    free = NUM_BLOCKS - len(held)
    if free > -(-prompt_len // BLOCK_SIZE):
        result.unexplained_refusals += 1
        result.free_at_refusal = max(result.free_at_refusal, free)


def verify_tables(
    contestant: Contestant, live: dict[int, Sequence], audit: Audit, *, exclusive: bool
) -> dict[int, list[int]]:
    """The live sequences' block tables, checked: one per live sequence, valid block ids, enough
    blocks for every stored position, waste recorded; with ``exclusive``, no block in two tables."""
    tables = _tables(contestant)
    if set(tables) != set(live):
        raise AssertionError(
            f"tables() lists {len(tables)} sequences, {len(live)} are live "
            f"(listed but freed: {sorted(set(tables) - set(live))[:5]}, "
            f"live but missing: {sorted(set(live) - set(tables))[:5]})"
        )
    owners: dict[int, int] = {}
    audit.tables_seen += len(tables)
    for seq_id, table in tables.items():
        positions = len(live[seq_id].fed)
        if any(not 0 <= b < NUM_BLOCKS for b in table):
            raise AssertionError(
                f"sequence {seq_id}'s table names blocks outside 0..{NUM_BLOCKS - 1}"
            )
        if len(set(table)) != len(table):
            raise AssertionError(f"sequence {seq_id}'s table names a block twice")
        if len(table) * BLOCK_SIZE < positions:
            raise AssertionError(
                f"sequence {seq_id} stores {positions} positions in {len(table)} blocks of {BLOCK_SIZE}"
            )
        waste = len(table) * BLOCK_SIZE - positions
        if waste > audit.worst_waste:
            audit.worst_waste = waste
            audit.worst_where = f"{len(table)} blocks for {positions} positions"
        for block in table:
            if exclusive and block in owners:
                raise AssertionError(
                    f"block {block} is in the tables of sequences {owners[block]} and {seq_id}, "
                    "which were never forked from each other"
                )
            owners[block] = seq_id
    return tables


def verify_kv(contestant: Contestant, model: TinyLM, sequence: Sequence, table: list[int]) -> None:
    """AssertionError unless the blocks of ``table`` hold ``sequence``'s keys and values, position
    by position, as the referee's own forward pass computes them."""
    keys, values = contestant.call("read_blocks", table)
    expected_keys, expected_values = recompute_kv(model, sequence.fed)
    positions = len(sequence.fed)
    for name, got, want in (("keys", keys, expected_keys), ("values", values, expected_values)):
        if not isinstance(got, Tensor) or got.shape[0] != len(table):
            raise AssertionError(f"read_blocks() returned no {name} for {len(table)} blocks")
        laid_out = got.permute(1, 2, 0, 3, 4).reshape(
            want.shape[0], want.shape[1], -1, want.shape[3]
        )
        error = (laid_out[:, :, :positions] - want).abs().amax(dim=(0, 1, 3))
        wrong = (error > KV_TOLERANCE).nonzero()
        if wrong.numel():
            p = int(wrong[0, 0])
            raise AssertionError(
                f"sequence {sequence.seq_id}: the {name} of position {p} (block {table[p // BLOCK_SIZE]}, "
                f"slot {p % BLOCK_SIZE}) differ from the recomputed ones by {float(error[p]):.2e}"
            )


@torch.inference_mode()
def recompute_kv(model: TinyLM, tokens: list[int]) -> tuple[Tensor, Tensor]:
    """Keys and values ``[layers, kv_heads, positions, head_dim]`` of a full forward pass."""
    h = model.embed(torch.tensor([tokens]))
    keys, values = [], []
    for block in model.blocks:
        q, k, v = block.attn.project_qkv(block.attn_norm(h))
        keys.append(k[0])
        values.append(v[0])
        h = h + block.attn.output(attend(q, k, v))
        h = block.feed_forward(h)
    return torch.stack(keys), torch.stack(values)


def compare_tokens(model: TinyLM, prompt: Tensor, expected: Tensor, actual: Tensor) -> None:
    """AssertionError unless ``actual`` is greedy decoding: ``expected``, or, where it differs,
    greedy given its own tokens, a near-tie within TIE_MARGIN counting either way (paged and
    full attention round differently)."""
    if not (actual != expected).any():
        return
    problem = greedy_mismatch(model, prompt, actual, TIE_MARGIN, "a contiguous cache")
    if problem is not None:
        raise AssertionError(problem)


def _add(contestant: Contestant, seq_id: int, prompt: list[int]) -> Sequence | None:
    token = contestant.call("add", seq_id, prompt)
    if token is None:
        return None
    return Sequence(seq_id, list(prompt), _token(token, "add"))


def _step(
    contestant: Contestant, sequences: list[Sequence], needed_blocks: int | None = None
) -> None:
    """Feed each sequence its next token; record what was fed and the new next token."""
    replies = contestant.call("step", [[s.seq_id, s.next_token] for s in sequences])
    if not isinstance(replies, list) or len(replies) != len(sequences):
        raise AssertionError(f"step() returned {replies!r:.80}, not one token per sequence")
    for sequence, reply in zip(sequences, replies, strict=True):
        if reply is None:
            need = f" though the live sequences need only {needed_blocks}" if needed_blocks else ""
            raise AssertionError(
                f"sequence {sequence.seq_id} got no block for position {len(sequence.fed)}{need} "
                f"of {NUM_BLOCKS} blocks"
            )
        sequence.fed.append(sequence.next_token)
        sequence.next_token = _token(reply, "step")


def _token(value: object, endpoint: str) -> int:
    if not isinstance(value, int) or not 0 <= value < CONFIG.vocab_size:
        raise AssertionError(f"{endpoint}() returned {value!r:.40}, not a token id")
    return value


def _tables(contestant: Contestant) -> dict[int, list[int]]:
    raw = contestant.call("tables")
    if not isinstance(raw, dict):
        raise AssertionError("tables() must return a dict")
    return {int(k): [int(b) for b in v] for k, v in raw.items()}


def _shared_prefix(a: list[int], b: list[int]) -> int:
    shared = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        shared += 1
    return shared


def _block_bytes() -> int:
    return 2 * CONFIG.n_layers * CONFIG.n_kv_heads * BLOCK_SIZE * CONFIG.head_dim * 4


def _random_tokens(rng: random.Random, length: int) -> list[int]:
    return [rng.randrange(CONFIG.vocab_size) for _ in range(length)]
