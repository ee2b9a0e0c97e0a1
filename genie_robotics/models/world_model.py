"""The learned simulator: reset from a prompt frame, then step with latent actions.

`step` generates the next frame's tokens with MaskGIT on the dynamics model and decodes them.
With `use_cache=True` (the default) both the dynamics model and the tokenizer decoder keep a
temporal key/value cache of the last `frames - 1` frames, so one MaskGIT iteration costs one
frame's forward pass whatever the history. `use_cache=False` recomputes every frame of the
history instead (exact, cost grows with history): it exists as a baseline for benchmarks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from genie_robotics.errors import GenieError
from genie_robotics.models.genie import Genie
from genie_robotics.models.maskgit import maskgit_sample
from genie_robotics.models.video import to_uint8
from genie_robotics.nn.st_transformer import TemporalCache


@dataclass
class RolloutState:
    """What a rollout carries between steps (cached or full-history, depending on the mode)."""

    batch: int
    frames: int = 0  # frames in the rollout so far, prompt included
    dynamics_cache: TemporalCache | None = None
    decoder_cache: TemporalCache | None = None
    tokens_BTN: torch.Tensor | None = None  # full history (uncached mode only)
    action_codes_BTD: torch.Tensor | None = None  # full history (uncached mode only)
    single: bool = False  # reset got one frame, not a batch: step returns one frame too


class WorldModel:
    def __init__(
        self,
        genie: Genie,
        maskgit_steps: int | None = None,
        temperature: float | None = None,
        schedule: str | None = None,
        seed: int = 0,
        use_cache: bool = True,
        device: torch.device | str = "cpu",
    ) -> None:
        self.genie = genie.to(device).eval()
        self.cfg = genie.cfg
        dc = self.cfg.dynamics
        self.maskgit_steps = maskgit_steps if maskgit_steps is not None else dc.maskgit_steps
        self.temperature = temperature if temperature is not None else dc.temperature
        self.schedule = schedule or dc.schedule
        if self.maskgit_steps < 1:
            raise GenieError(f"maskgit_steps must be >= 1, got {self.maskgit_steps}")
        self.use_cache = use_cache
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.state: RolloutState | None = None

    @classmethod
    def from_checkpoint(cls, path, device: torch.device | str = "cpu", **kwargs) -> WorldModel:
        from genie_robotics.checkpoint import load_checkpoint

        return cls(load_checkpoint(path, device), device=device, **kwargs)

    @property
    def num_actions(self) -> int:
        return self.cfg.num_actions

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

    # --- the model calls of a cached rollout (a runtime such as ONNX overrides these) ---------
    def encode_frames(self, frames_BHWC: torch.Tensor) -> torch.Tensor:
        """Token indices [B, N] of uint8 frames."""
        return self.genie.tokenizer.encode(frames_BHWC[:, None])[:, 0]

    def empty_caches(self, batch: int) -> tuple[TemporalCache, TemporalCache]:
        """Empty dynamics and decoder caches."""
        g = self.genie
        return g.dynamics.empty_cache(batch, self.device), g.tokenizer.empty_decoder_cache(batch, self.device)

    def dynamics_step(self, tokens_BN: torch.Tensor, actions_B: torch.Tensor | None, cache: TemporalCache):
        """Logits [B, N, V] of a new frame (reached by `actions_B`; None for the prompt) and its k, v."""
        codes_BD = None if actions_B is None else self.genie.lam.action_codes(actions_B)
        return self.genie.dynamics.step(tokens_BN, codes_BD, cache)

    def decode_step(self, tokens_BN: torch.Tensor, cache: TemporalCache) -> tuple[torch.Tensor, TemporalCache]:
        """A new frame in [-1, 1], [B, H, W, 3], and the decoder cache with it appended."""
        return self.genie.tokenizer.decode_step(tokens_BN, cache)

    # --- rollout -------------------------------------------------------------------------
    @torch.no_grad()
    def reset(self, prompt, seed: int | None = None):
        """Start a rollout from a prompt frame uint8 [H, W, 3] (or a batch [B, H, W, 3]).

        Returns the prompt as the model sees it (encoded and decoded), same shape as given.
        """
        frames_BHWC, single = self._prompt_batch(prompt)
        if seed is not None:
            self.generator.manual_seed(seed)
        g = self.genie
        B = frames_BHWC.shape[0]
        tokens_BN = self.encode_frames(frames_BHWC)
        state = RolloutState(batch=B, frames=1)
        if self.use_cache:
            dynamics_cache, decoder_cache = self.empty_caches(B)
            _, k, v = self.dynamics_step(tokens_BN, None, dynamics_cache)
            state.dynamics_cache = dynamics_cache.append(k, v)
            frame, state.decoder_cache = self.decode_step(tokens_BN, decoder_cache)
        else:
            state.tokens_BTN = tokens_BN[:, None]
            state.action_codes_BTD = torch.zeros(B, 0, self.cfg.lam.quantizer.code_dim, device=self.device)
            frame = g.tokenizer.decode(state.tokens_BTN)[:, -1]
        state.single = single
        self.state = state
        return self._out(frame, single)

    @torch.no_grad()
    def step(self, action):
        """Apply a latent action (int in [0, 8), or one per rollout) and return the next frame."""
        if self.state is None:
            raise GenieError("call reset(prompt) before step(action)")
        state = self.state
        actions_B = self._action_batch(action).expand(state.batch)
        N = self.cfg.tokens_per_frame

        if self.use_cache:
            cache = state.dynamics_cache

            def logits_fn(tokens_BN: torch.Tensor) -> torch.Tensor:
                return self.dynamics_step(tokens_BN, actions_B, cache)[0]
        else:
            g = self.genie
            codes_BTD = torch.cat((state.action_codes_BTD, g.lam.action_codes(actions_B)[:, None]), dim=1)

            def logits_fn(tokens_BN: torch.Tensor) -> torch.Tensor:
                tokens_BTN = torch.cat((state.tokens_BTN, tokens_BN[:, None]), dim=1)
                return g.dynamics(tokens_BTN, codes_BTD)[:, -1]

        tokens_BN = maskgit_sample(
            logits_fn, state.batch, N, self.cfg.tokenizer.quantizer.num_codes, self.maskgit_steps, self.temperature,
            self.schedule, self.generator, self.device,
        )
        if self.use_cache:
            _, k, v = self.dynamics_step(tokens_BN, actions_B, state.dynamics_cache)
            state.dynamics_cache = state.dynamics_cache.append(k, v)
            frame, state.decoder_cache = self.decode_step(tokens_BN, state.decoder_cache)
        else:
            state.tokens_BTN = torch.cat((state.tokens_BTN, tokens_BN[:, None]), dim=1)
            state.action_codes_BTD = codes_BTD
            frame = g.tokenizer.decode(state.tokens_BTN)[:, -1]
        state.frames += 1
        return self._out(frame, state.single)

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
        self.state.single = False
        frames = [first] + [self.step(actions[:, t]) for t in range(actions.shape[1])]
        return np.stack(frames, axis=1)

    @staticmethod
    def _out(frame_BHWC: torch.Tensor, single: bool) -> np.ndarray:
        out = to_uint8(frame_BHWC).cpu().numpy()
        return out[0] if single else out
