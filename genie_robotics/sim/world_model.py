"""The learned simulator: reset from a prompt frame, then step with latent actions.

This is the one rollout loop (input checks, MaskGIT sampling, rollout state); the networks run
on a `RolloutBackend`: PyTorch with temporal key/value caches (the default for a `Genie`),
PyTorch recomputing the whole history (`use_cache=False`, the benchmarks' exact baseline), or
ONNX Runtime (`load_world_model` on an export directory, or backend "onnx").
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genie_robotics.commands import COMMAND_MAP_FILE, CommandMap, load_command_map
from genie_robotics.core.backends import BACKENDS
from genie_robotics.core.errors import GenieError
from genie_robotics.core.sampling import Sampling
from genie_robotics.models.genie import Genie
from genie_robotics.models.maskgit import MIN_TEMPERATURE, maskgit_draws, maskgit_sample
from genie_robotics.models.video import to_uint8
from genie_robotics.sim.rollout_backend import FullHistoryBackend, RolloutBackend, TorchBackend


@dataclass
class WorldChunk:
    """Worlds [start, stop) of a batch, served by one model call per step (the backend's
    `world_chunk`); the contexts are the backend's (caches or history)."""

    start: int
    stop: int
    dynamics_context: Any
    decoder_context: Any


@dataclass
class RolloutState:
    """What a rollout carries between steps."""

    batch: int
    chunks: list[WorldChunk]
    frames: int = 1  # frames in the rollout so far, prompt included
    single: bool = False  # reset got one frame, not a batch: step returns one frame too


class WorldModel:
    """`model`: a Genie (run by PyTorch on `device`, cached unless `use_cache=False`) or any
    `RolloutBackend`. Sampling settings left as None take the checkpoint's values."""

    def __init__(
        self,
        model: Genie | RolloutBackend,
        maskgit_steps: int | None = None,
        temperature: float | None = None,
        schedule: str | None = None,
        unmasking: str | None = None,
        seed: int = 0,
        use_cache: bool = True,
        device: torch.device | str = "cpu",
    ) -> None:
        if isinstance(model, Genie):
            model = (TorchBackend if use_cache else FullHistoryBackend)(model, device)
        self.backend = model
        self.cfg = model.cfg
        self.device = model.device
        self.sampling = Sampling.resolve(self.cfg, maskgit_steps, temperature, schedule, unmasking)
        self.seed = seed  # the sampler's seed: the constructor's, or the last `reset(seed=...)`
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.state: RolloutState | None = None
        self.command_map: CommandMap | None = None  # robot commands -> latent actions (`step(command=...)`)
        self.last_actions: np.ndarray | None = None  # the latent actions of the last step, one per rollout

    @classmethod
    def from_checkpoint(cls, path, device: torch.device | str = "cpu", compile: bool = False, **kwargs) -> WorldModel:
        """`compile`: the PyTorch backend's dynamics and decoder calls through torch.compile (TorchBackend).
        A `command_map.json` beside the weights is loaded (and checked against the LAM) too."""
        from genie_robotics.models.checkpoint import load_checkpoint

        genie = load_checkpoint(path, device)
        world = cls(TorchBackend(genie, device, compile=compile), **kwargs)
        if (Path(path) / COMMAND_MAP_FILE).is_file():
            world.command_map = load_command_map(path, codebook_AD=genie.lam.quantizer.codebook)
        return world

    # --- sampling settings (`self.sampling`); setting None means the checkpoint's ----------------
    @property
    def maskgit_steps(self) -> int:
        return self.sampling.steps

    @maskgit_steps.setter
    def maskgit_steps(self, steps: int | None) -> None:
        self.sampling = self.sampling.override(self.cfg, steps=steps)

    @property
    def temperature(self) -> float:
        return self.sampling.temperature

    @temperature.setter
    def temperature(self, value: float | None) -> None:
        self.sampling = self.sampling.override(self.cfg, temperature=value)

    @property
    def schedule(self) -> str:
        return self.sampling.schedule

    @schedule.setter
    def schedule(self, value: str | None) -> None:
        self.sampling = self.sampling.override(self.cfg, schedule=value)

    @property
    def unmasking(self) -> str:
        return self.sampling.unmasking

    @unmasking.setter
    def unmasking(self, value: str | None) -> None:
        self.sampling = self.sampling.override(self.cfg, unmasking=value)

    @property
    def num_actions(self) -> int:
        return self.cfg.num_actions

    @property
    def genie(self) -> Genie:
        """The PyTorch model (for a PyTorch backend only: LAM inference, parameter counts)."""
        if not isinstance(self.backend, TorchBackend):
            raise GenieError(f"this world model runs on {self.backend.name}; the PyTorch model is not loaded")
        return self.backend.genie

    # --- input checks ------------------------------------------------------------------
    def _prompt_batch(self, prompt) -> tuple[torch.Tensor, bool]:
        """uint8 [B, H, W, 3] on the device, and whether the input was a single frame."""
        arr = prompt if isinstance(prompt, torch.Tensor) else np.asarray(prompt)
        shape, dtype = tuple(arr.shape), str(arr.dtype).replace("torch.", "")
        want = (self.cfg.height, self.cfg.width, 3)
        if dtype != "uint8" or len(shape) not in (3, 4) or shape[-3:] != want:
            raise GenieError(
                f"prompt must be a uint8 image of shape {want} (or a batch (B, {want[0]}, {want[1]}, 3)); "
                f"got shape {shape} dtype {dtype}"
            )
        frames = torch.as_tensor(arr, device=self.device)
        single = frames.dim() == 3
        return (frames[None] if single else frames), single

    def _action_batch(self, action) -> torch.Tensor:
        values = np.atleast_1d(np.asarray(action.cpu() if isinstance(action, torch.Tensor) else action))
        if values.dtype.kind not in "iu" or values.ndim != 1:
            raise GenieError(f"action must be an integer in [0, {self.num_actions}) (or one per rollout); got {action!r}")
        bad = values[(values < 0) | (values >= self.num_actions)]
        if bad.size:
            raise GenieError(f"action {int(bad[0])} is outside [0, {self.num_actions})")
        if self.state is not None and values.size not in (1, self.state.batch):
            raise GenieError(f"got {values.size} actions for a batch of {self.state.batch} rollouts")
        return torch.as_tensor(values, dtype=torch.long, device=self.device)

    # --- rollout -------------------------------------------------------------------------
    @contextmanager
    def _host_threads(self):
        """torch on the backend's `host_threads` for the duration of a reset or step."""
        before = torch.get_num_threads()
        wanted = self.backend.host_threads or before
        if wanted != before:
            torch.set_num_threads(wanted)
        try:
            yield
        finally:
            if wanted != before:
                torch.set_num_threads(before)

    @torch.no_grad()
    def reset(self, prompt, seed: int | None = None):
        """Start a rollout from a prompt frame uint8 [H, W, 3] (or a batch [B, H, W, 3]).

        Returns the prompt as the model sees it (encoded and decoded), same shape as given.
        """
        frames_BHWC, single = self._prompt_batch(prompt)
        B = frames_BHWC.shape[0]
        self.backend.check_batch(B)
        if seed is not None:
            self.seed = seed
            self.generator.manual_seed(seed)
        self.state = None  # the old contexts go before the new ones come: a reset never holds both
        chunk = self.backend.world_chunk or B
        with self._host_threads():
            chunks = [self._start_worlds(frames_BHWC, start, min(start + chunk, B)) for start in range(0, B, chunk)]
            self.state = RolloutState(B, [c for c, _ in chunks], single=single)
            return self._out(torch.cat([frame_bHWC for _, frame_bHWC in chunks]), single)

    def _start_worlds(self, frames_BHWC: torch.Tensor, start: int, stop: int) -> tuple[WorldChunk, torch.Tensor]:
        """Worlds [start, stop) reset from their prompts, and their first frames [b, H, W, 3].
        Worlds that share a prompt (a node's num_envs all start from one) are computed once."""
        frames_bHWC = frames_BHWC[start:stop]
        unique_UHWC, world_to_unique_b = torch.unique(frames_bHWC, dim=0, return_inverse=True)
        U, b = unique_UHWC.shape[0], frames_bHWC.shape[0]
        tokens_UN = self.backend.encode(unique_UHWC if U < b else frames_bHWC)
        dynamics_context, decoder_context = self.backend.empty_caches(U)
        frame_UHWC, decoder_context = self.backend.decode(tokens_UN, decoder_context)
        dynamics_context = self.backend.commit(tokens_UN, None, dynamics_context)
        if U < b:
            frame_UHWC = frame_UHWC[world_to_unique_b]
            dynamics_context = self.backend.select_worlds(dynamics_context, world_to_unique_b)
            decoder_context = self.backend.select_worlds(decoder_context, world_to_unique_b)
        return WorldChunk(start, stop, dynamics_context, decoder_context), frame_UHWC

    def command_actions(self, command) -> np.ndarray:
        """Latent actions [B] for robot commands ([3] world_vector, or one per rollout [B, 3])."""
        if self.command_map is None:
            raise GenieError("this world model has no command map: fit one with `genie-robotics fit-command-map`")
        return np.atleast_1d(self.command_map.latent_actions(command))

    @torch.no_grad()
    def step(self, action=None, *, command=None):
        """Apply a latent action (int in [0, num_actions), or one per rollout) and return the next frame.

        Or `command=`: the robot's end-effector displacement over one frame (`world_vector`, metres;
        [3], or [B, 3] one per rollout), mapped to a latent action by the command map.
        `last_actions` holds the latent actions taken."""
        state, backend = self._rollout_state(), self.backend
        if (action is None) == (command is None):
            raise GenieError("step takes a latent action or a command=, exactly one of them")
        if command is not None:
            action = self.command_actions(command)
        actions_B = self._action_batch(action).expand(state.batch)
        self.last_actions = actions_B.cpu().numpy()
        with self._host_threads():
            temperature = max(self.temperature, MIN_TEMPERATURE)
            N = self.cfg.tokens_per_frame
            # One draw for the whole batch, sliced per chunk: a seed's frames do not depend on the chunking.
            uniform_SBN, order_key_BN = maskgit_draws(self.maskgit_steps, state.batch, N, self.unmasking,
                                                      self.generator, self.device)
            frames_bHWC = []
            for chunk in state.chunks:
                actions_b = actions_B[chunk.start:chunk.stop]

                def probabilities(candidate_bN, actions_b=actions_b, chunk=chunk):
                    return backend.probabilities(candidate_bN, actions_b, chunk.dynamics_context, temperature)

                tokens_bN = maskgit_sample(
                    probabilities, chunk.stop - chunk.start, N, self.cfg.tokenizer.quantizer.num_codes,
                    self.maskgit_steps, self.schedule, device=self.device,
                    uniform_SBN=uniform_SBN[:, chunk.start:chunk.stop], order=self.unmasking,
                    order_key_BN=None if order_key_BN is None else order_key_BN[chunk.start:chunk.stop],
                )
                chunk.dynamics_context = backend.commit(tokens_bN, actions_b, chunk.dynamics_context)
                frame_bHWC, chunk.decoder_context = backend.decode(tokens_bN, chunk.decoder_context)
                frames_bHWC.append(frame_bHWC)
            state.frames += 1
            return self._out(torch.cat(frames_bHWC), state.single)

    def _rollout_state(self) -> RolloutState:
        if self.state is None:
            raise GenieError("call reset(prompt) before step(action)")
        return self.state

    def warm_up(self, prompt) -> float:
        """One throwaway reset and step, then the sampler seeded again, so the first real frame is
        not slowed and a seed's rollouts stay what they would have been. At `prompt`'s batch size
        when the backend prepares per batch size (compiles; GPU arenas); otherwise one world
        is enough, and warming all of them would cost a whole batched step for nothing.
        Seconds it took; call `reset` next."""
        start = time.perf_counter()
        frames_BHWC, _ = self._prompt_batch(prompt)
        self.reset(prompt if self.backend.warms_per_batch else frames_BHWC[:1])  # reset takes a tensor too
        self.step(np.zeros(self._rollout_state().batch, np.int64))
        self.generator.manual_seed(self.seed)
        self.state = None
        return time.perf_counter() - start

    @torch.no_grad()
    def rollout(self, prompts_BHWC, actions_BT) -> np.ndarray:
        """Frames uint8 [B, T+1, H, W, 3]: the prompt as seen by the model, then T generated."""
        actions = np.asarray(actions_BT)
        if actions.ndim != 2:
            raise GenieError(f"actions must be a [batch, steps] integer array; got shape {actions.shape}")
        first = self.reset(prompts_BHWC)
        if first.ndim == 3:
            first = first[None]
        if actions.shape[0] != first.shape[0]:
            raise GenieError(f"{actions.shape[0]} action rows for {first.shape[0]} prompts")
        self._rollout_state().single = False
        frames = [first] + [self.step(actions[:, t]) for t in range(actions.shape[1])]
        return np.stack(frames, axis=1)

    @staticmethod
    def _out(frame_BHWC: torch.Tensor, single: bool) -> np.ndarray:
        out = to_uint8(frame_BHWC).cpu().numpy()
        return out[0] if single else out


def load_world_model(path: str | Path, backend: str = "auto", providers: list[str] | None = None,
                     device: torch.device | str = "cpu", batched: bool = False, **sampling) -> WorldModel:
    """A world model for a checkpoint or an ONNX export directory.

    backend "auto" picks ONNX Runtime for an export directory and PyTorch for a checkpoint;
    "torch-compiled" is PyTorch through torch.compile (see TorchBackend). "onnx" on a
    checkpoint exports it to a temporary directory first (with a batch dimension when
    `batched`), removed once the sessions have loaded the graphs (they hold them in memory).
    `sampling`: maskgit_steps, temperature, schedule, seed.
    """
    import tempfile

    from genie_robotics.export.onnx_export import METADATA_FILE

    path = Path(path)
    is_export = (path / METADATA_FILE).is_file()
    if backend == "auto":
        backend = "onnx" if is_export else "torch"
    if backend in ("torch", "torch-compiled"):
        if is_export:
            raise GenieError(f"{path} is an ONNX export; use backend onnx, or point at the checkpoint")
        return WorldModel.from_checkpoint(path, device=device, compile=backend == "torch-compiled", **sampling)
    if backend != "onnx":
        raise GenieError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    from genie_robotics.export.onnx_export import export_onnx
    from genie_robotics.sim.onnx_backend import OnnxBackend

    if is_export:
        onnx = OnnxBackend(path, providers)
        if batched and not onnx.meta.get("dynamic_batch"):
            raise GenieError(f"{path} is exported for batch 1; export with --dynamic-batch to roll out several worlds")
        return _with_command_map(WorldModel(onnx, **sampling), path, onnx.meta.get("lam_digest"))
    with tempfile.TemporaryDirectory(prefix="genie_onnx_") as tmp:
        exported = OnnxBackend(export_onnx(path, tmp, dynamic_batch=batched), providers)
        return _with_command_map(WorldModel(exported, **sampling), Path(tmp), exported.meta.get("lam_digest"))


def _with_command_map(world: WorldModel, directory: Path, lam_digest: str | None) -> WorldModel:
    """`world` with the command map of an export directory, when it has one."""
    if (directory / COMMAND_MAP_FILE).is_file():
        world.command_map = load_command_map(directory, lam_digest=lam_digest or "unknown: exported without a digest")
    return world
