"""The model calls a rollout needs, behind one small interface, so that `WorldModel` holds the
one rollout loop (sampling, state, input checks) whatever runs the networks.

A backend turns prompt frames into tokens (`encode`), scores a candidate next frame's tokens
given the frames so far (`logits`, or `probabilities` at a sampling temperature), appends a
finished frame to the dynamics context (`commit`), and decodes a finished frame (`decode`). What "the frames so far" is, the backend
decides: a fixed-size temporal key/value cache (`TorchBackend`, and the ONNX Runtime backend in
sim/onnx_backend.py), or the whole token history recomputed at every call
(`FullHistoryBackend`, the exact baseline of the cache benchmarks).
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import torch

from genie_robotics.core.config import GenieConfig
from genie_robotics.core.errors import GenieError
from genie_robotics.models.genie import Genie
from genie_robotics.models.maskgit import token_probabilities
from genie_robotics.nn.st_transformer import TemporalCache

# A model call's largest activation is kept under this on a CPU (see `cpu_world_chunk`).
CHUNK_ACTIVATION_BYTES = 16 * 2**20


def cpu_world_chunk(cfg: GenieConfig) -> int:
    """Worlds per model call on a CPU: as many as keep a call's largest activation (the spatial
    attention's scores, or the feed-forward's hidden layer) under CHUNK_ACTIVATION_BYTES.

    glibc serves allocations above its mmap threshold (at most 32 MB) with fresh pages that the
    kernel zero-fills at every call; 256 tiny worlds in one call spent most of a step there, and
    stepped ~1.7x slower than in chunks of 16 (bench/node_memory.py). A GPU's caching allocator
    has no such cost, and there the whole batch runs in one call."""
    t = cfg.dynamics.transformer
    N = cfg.tokens_per_frame
    per_world_bytes = 4 * N * max(N * t.heads, int(t.dim * t.ffn_mult))
    return max(1, CHUNK_ACTIVATION_BYTES // per_world_bytes)


class RolloutBackend:
    """Cached backends implement the four `*_step`/`empty_caches`/`encode` calls below;
    `logits`, `probabilities` and `commit` follow from `dynamics_step`."""

    name: str
    cfg: GenieConfig
    device: torch.device
    # Threads for torch's own work between model calls (sampling, cache appends); None: leave
    # torch's setting alone. A backend whose model calls run on their own thread pool sets 1.
    host_threads: int | None = None
    _temperature: tuple[float, torch.Tensor] | None = None  # see temperature_tensor
    # True when the backend prepares itself per batch size at first use (compiles, plans memory,
    # tunes kernels): its warm-up must then run at the batch it will serve, not at one world.
    warms_per_batch: bool = False
    # Worlds per model call (None: the whole batch in one call); see `cpu_world_chunk`.
    world_chunk: int | None = None

    def check_batch(self, batch: int) -> None:
        """GenieError if this backend cannot roll out `batch` worlds at once."""

    def encode(self, frames_BHWC: torch.Tensor) -> torch.Tensor:
        """Token indices [B, N] of uint8 frames [B, H, W, 3]."""
        raise NotImplementedError

    def empty_caches(self, batch: int):
        """(dynamics context, decoder context) of a rollout with no frames yet."""
        raise NotImplementedError

    def dynamics_step(self, tokens_BN: torch.Tensor, actions_B: torch.Tensor | None, cache: TemporalCache,
                      keys_values_only: bool = False):
        """Logits [B, N, V] of a new frame reached by `actions_B` (None: the prompt) and its k, v.
        `keys_values_only` (a commit): logits None, and k, v may sit in buffers the next such
        call reuses (the append copies them at once)."""
        raise NotImplementedError

    def decode(self, tokens_BN: torch.Tensor, cache):
        """A new frame in [-1, 1], [B, H, W, 3], and the decoder context with it appended."""
        raise NotImplementedError

    def logits(self, tokens_BN: torch.Tensor, actions_B: torch.Tensor, cache) -> torch.Tensor:
        """Logits [B, N, V] of a candidate new frame's tokens."""
        return self.dynamics_step(tokens_BN, actions_B, cache)[0]

    def probabilities(self, tokens_BN: torch.Tensor, actions_B: torch.Tensor, cache, temperature: float) -> torch.Tensor:
        """A MaskGIT iteration's token probabilities at `temperature` (>= MIN_TEMPERATURE); read
        them before the next call, which may reuse the buffer."""
        return token_probabilities(self.logits(tokens_BN, actions_B, cache), temperature)

    def temperature_tensor(self, temperature: float) -> torch.Tensor:
        """`temperature` as a 0-d float32 tensor on this backend's device, the same tensor while
        the value holds: an ONNX input stays bound, a compiled function sees no new constant."""
        cached = self._temperature
        if cached is None or cached[0] != temperature:
            self._temperature = cached = (temperature, torch.tensor(temperature, dtype=torch.float32, device=self.device))
        return cached[1]

    def commit(self, tokens_BN: torch.Tensor, actions_B: torch.Tensor | None, cache):
        """The dynamics context with this finished frame appended."""
        _, keys, values = self.dynamics_step(tokens_BN, actions_B, cache, keys_values_only=True)
        return cache.append(keys, values)

    def select_worlds(self, context, index_B: torch.Tensor):
        """A context (dynamics or decoder) whose world b is `context`'s world `index_B[b]`."""
        return context.select_worlds(index_B, self.cfg.tokens_per_frame)


class TorchBackend(RolloutBackend):
    """The Genie stack in PyTorch with temporal key/value caches: one MaskGIT iteration costs one
    frame's forward pass whatever the history.

    `compile`: run the dynamics and decoder calls through torch.compile (Inductor; on CUDA with
    CUDA graphs). The ring cache keeps every shape fixed, so each call kind compiles once per
    batch size, paid at the first reset and step, or in `WorldModel.warm_up`. The gain is largest
    at batch 1, where per-call overhead dominates; at larger batches the matrix products do
    (measured in bench/README.md).
    """

    def __init__(self, genie: Genie, device: torch.device | str = "cpu", compile: bool = False) -> None:
        self.genie = genie.to(device).eval()
        self.cfg, self.device, self.name = genie.cfg, torch.device(device), "torch"
        self._step, self._probabilities = self._eager_step, self._eager_probabilities
        self._decode_frame = self.genie.tokenizer.decode_frame
        self.compiled = compile
        self.warms_per_batch = compile or self.device.type == "cuda"  # compiled graphs; CUDA's allocator
        # Compiled graphs are built per batch size: one call for the whole batch keeps it at one.
        self.world_chunk = None if self.warms_per_batch else cpu_world_chunk(self.cfg)
        if compile:
            if self.device.type == "cpu" and not (os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")):
                raise GenieError("compiling for CPU needs a C++ compiler (g++, or $CXX) and none was found; "
                                 "install g++ or use the torch or onnx backend")
            # CUDA graphs replay a whole step's kernels in one launch; on CPU they do not apply.
            # The cache appends stay eager: they move the ring's slot, a new value at every frame.
            mode = "reduce-overhead" if self.device.type == "cuda" else None
            self._step, self._probabilities, self._decode_frame = (
                torch.compile(fn, mode=mode, dynamic=False)
                for fn in (self._eager_step, self._eager_probabilities, self._decode_frame))
            self.name = "torch (compiled)"

    def encode(self, frames_BHWC):
        return self.genie.tokenizer.encode(frames_BHWC[:, None])[:, 0]

    def empty_caches(self, batch):
        return (self.genie.dynamics.empty_cache(batch, self.device),
                self.genie.tokenizer.empty_decoder_cache(batch, self.device))

    def _eager_step(self, tokens_BN, actions_B, cache, keys_values_only: bool):
        codes_BD = None if actions_B is None else self.genie.lam.action_codes(actions_B)
        return self.genie.dynamics.step(tokens_BN, codes_BD, cache, keys_values_only)

    def _eager_probabilities(self, tokens_BN, actions_B, cache, temperature):
        return token_probabilities(self._eager_step(tokens_BN, actions_B, cache, False)[0], temperature)

    def dynamics_step(self, tokens_BN, actions_B, cache, keys_values_only: bool = False):
        return self._step(tokens_BN, actions_B, cache, keys_values_only)

    def probabilities(self, tokens_BN, actions_B, cache, temperature):
        return self._probabilities(tokens_BN, actions_B, cache, self.temperature_tensor(temperature))

    def decode(self, tokens_BN, cache):
        frame_BHWC, keys, values = self._decode_frame(tokens_BN, cache)
        if self.compiled:  # CUDA graphs reuse their output memory at the next replay; the frame outlives it
            frame_BHWC = frame_BHWC.clone()
        return frame_BHWC, cache.append(keys, values)


@dataclass
class History:
    """Every frame's tokens [B, T, N] and the action codes [B, T-1, D] between them."""

    tokens_BTN: torch.Tensor | None = None
    codes_BTD: torch.Tensor | None = None


class FullHistoryBackend(TorchBackend):
    """No cache: every call runs the model over the whole history (exact; cost grows with it).
    The baseline that the cached backends are measured and tested against."""

    probabilities = RolloutBackend.probabilities  # through this class's `logits`, not the cached step

    def empty_caches(self, batch):
        return History(), History()

    def _extended(self, tokens_BN, actions_B, history: History) -> History:
        if history.tokens_BTN is None or history.codes_BTD is None:  # the prompt (both set together)
            code_dim = self.cfg.lam.quantizer.code_dim
            return History(tokens_BN[:, None], torch.zeros(tokens_BN.shape[0], 0, code_dim, device=self.device))
        return History(torch.cat((history.tokens_BTN, tokens_BN[:, None]), dim=1),
                       torch.cat((history.codes_BTD, self.genie.lam.action_codes(actions_B)[:, None]), dim=1))

    def logits(self, tokens_BN, actions_B, history):
        extended = self._extended(tokens_BN, actions_B, history)
        return self.genie.dynamics(extended.tokens_BTN, extended.codes_BTD)[:, -1]

    def commit(self, tokens_BN, actions_B, history):
        return self._extended(tokens_BN, actions_B, history)

    def decode(self, tokens_BN, history):
        tokens_BTN = tokens_BN[:, None] if history.tokens_BTN is None else torch.cat((history.tokens_BTN, tokens_BN[:, None]), 1)
        return self.genie.tokenizer.decode(tokens_BTN)[:, -1], History(tokens_BTN)

    def select_worlds(self, history: History, index_B: torch.Tensor) -> History:
        return History(*(None if t is None else t[index_B] for t in (history.tokens_BTN, history.codes_BTD)))
