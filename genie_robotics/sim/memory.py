"""How much memory N simulated worlds need, and a refusal before allocating when they do not fit.

A world keeps two temporal caches (rotated keys and values of its last `frames - 1` frames, for
every layer and token): the dynamics model's and the tokenizer decoder's. While a frame is
generated a model call also holds transient activations (the token logits and probabilities,
spatial attention scores, the layers' hidden states); `WORKING_FACTOR` covers those, for the worlds
of one call (a CPU backend steps a big batch a chunk of worlds at a time, `world_chunk`). Everything
else (the interpreter, torch, ONNX Runtime, the weights) is paid once per process.

`GENIE_MEMORY_LIMIT` (bytes, or with a K/M/G suffix) caps the memory counted as available, so a
deployment can keep headroom for other processes (and a test can ask for a refusal).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from genie_robotics.core.config import GenieConfig, TransformerConfig
from genie_robotics.core.errors import GenieError
from genie_robotics.models.genie import count_parameters

LIMIT_VARIABLE = "GENIE_MEMORY_LIMIT"
PROCESS_BYTES = 450 * 2**20  # interpreter, torch, ONNX Runtime and their libraries (bench: ~0.3 GB at 1 world)
FLOAT_BYTES = 4  # caches and activations are float32
WORKING_FACTOR = 8.0  # a call's transient bytes per world over its largest activation (bench/node_memory.py)
CACHE_SLACK = 1.05  # resident bytes per world over its caches' own, 64 -> 256 worlds (bench/node_memory.py)


@dataclass(frozen=True)
class MemoryNeed:
    """Bytes one process needs for `worlds` worlds of one model, stepped `world_chunk` worlds
    per model call (None: all in one call)."""

    worlds: int
    cache_bytes_per_world: int
    working_bytes_per_world: int
    fixed_bytes: int
    world_chunk: int | None = None

    def _bytes(self, worlds: int) -> int:
        in_one_call = worlds if self.world_chunk is None else min(worlds, self.world_chunk)
        return int(worlds * self.cache_bytes_per_world * CACHE_SLACK) + in_one_call * self.working_bytes_per_world

    @property
    def worlds_bytes(self) -> int:
        """The worlds' caches and the working memory of one call."""
        return self._bytes(self.worlds)

    @property
    def total(self) -> int:
        return self.fixed_bytes + self.worlds_bytes

    def worlds_that_fit(self, available: int) -> int:
        """The most worlds whose need stays within `available` bytes."""
        lo, hi = 0, 1
        while self.fixed_bytes + self._bytes(hi) <= available:
            lo, hi = hi, 2 * hi
        while hi - lo > 1:  # fixed + _bytes(lo) fits, fixed + _bytes(hi) does not
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if self.fixed_bytes + self._bytes(mid) <= available else (lo, mid)
        return lo


def _cache_bytes(t: TransformerConfig, tokens: int, frames: int) -> int:
    """Rotated keys + values of one world: 2 x layers x tokens x (frames - 1) slots x width."""
    return 2 * t.depth * tokens * (frames - 1) * t.dim * FLOAT_BYTES


def memory_need(cfg: GenieConfig, worlds: int, world_chunk: int | None = None) -> MemoryNeed:
    """What `worlds` worlds of `cfg` need: their caches, a call's working memory, the process."""
    n, dyn, dec = cfg.tokens_per_frame, cfg.dynamics.transformer, cfg.tokenizer.decoder
    cache = _cache_bytes(dyn, n, cfg.frames) + _cache_bytes(dec, n, cfg.frames)
    vocab = cfg.tokenizer.quantizer.num_codes
    largest = max(2 * n * vocab,  # logits and probabilities of a frame's tokens
                  dyn.heads * n * n + 4 * n * dyn.dim,  # spatial attention scores, hidden states
                  dec.heads * n * n + 4 * n * dec.dim + cfg.height * cfg.width * 3)
    weights = count_parameters(cfg)["total"] * FLOAT_BYTES
    return MemoryNeed(worlds, cache, int(WORKING_FACTOR * largest * FLOAT_BYTES), PROCESS_BYTES + weights, world_chunk)


def parse_bytes(text: str) -> int:
    """'4G', '512M', '2000000': bytes (GenieError naming GENIE_MEMORY_LIMIT when unreadable)."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    value = text.strip().upper().removesuffix("B").removesuffix("I")
    try:
        if value and value[-1] in units:
            return int(float(value[:-1]) * units[value[-1]])
        return int(value)
    except ValueError:
        raise GenieError(f"{LIMIT_VARIABLE} must be a byte count such as 4G or 512M, got {text!r}") from None


def available_bytes() -> int:
    """Memory this process may still use: MemAvailable, the cgroup's remaining limit, and
    GENIE_MEMORY_LIMIT, whichever is smallest."""
    candidates = []
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                candidates.append(int(line.split()[1]) * 1024)
    cgroup = Path("/sys/fs/cgroup")
    limit, current = cgroup / "memory.max", cgroup / "memory.current"
    if limit.is_file() and current.is_file() and limit.read_text().strip() != "max":
        candidates.append(int(limit.read_text()) - int(current.read_text()))
    if os.environ.get(LIMIT_VARIABLE):
        candidates.append(parse_bytes(os.environ[LIMIT_VARIABLE]))
    return min(candidates) if candidates else 2**62


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GB"


def check_worlds_fit(cfg: GenieConfig, worlds: int, what: str = "num_envs", world_chunk: int | None = None) -> MemoryNeed:
    """Refuse, before any world is allocated, a number of worlds that does not fit in memory."""
    need, available = memory_need(cfg, worlds, world_chunk), available_bytes()
    if need.total > available:
        fit = need.worlds_that_fit(available)
        raise GenieError(f"{what} {worlds} needs about {_gb(need.total)} ({_gb(need.worlds_bytes)} for the worlds' "
                         f"caches and working memory, {_gb(need.fixed_bytes)} for the process) but {_gb(available)} is "
                         f"available; at most {fit} world{'s' if fit != 1 else ''} fit")
    return need
