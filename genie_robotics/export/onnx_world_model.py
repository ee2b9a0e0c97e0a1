"""The world model on ONNX Runtime: same reset/step/rollout as `WorldModel`, batch 1.

The three exported graphs replace the three model calls of a cached rollout; the MaskGIT
schedule, sampling and cache bookkeeping are the PyTorch `WorldModel`'s own host code.
Providers are tried in the order TensorRT -> CUDA -> CPU among those available, and
`provider` says which one the session really runs on: onnxruntime-gpu silently falls back to
CPU when the CUDA/cuDNN libraries are missing, which is detected and warned about.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch

from genie_robotics.config import GenieConfig
from genie_robotics.errors import GenieError
from genie_robotics.export.onnx_export import METADATA_FILE
from genie_robotics.models.world_model import WorldModel
from genie_robotics.nn.st_transformer import TemporalCache

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def choose_providers(requested: list[str] | None = None) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    wanted = requested or [p for p in PREFERRED_PROVIDERS if p in available]
    missing = [p for p in wanted if p not in available]
    if missing:
        raise GenieError(f"ONNX Runtime providers not available: {', '.join(missing)} (available: {', '.join(available)})")
    return wanted


class OnnxWorldModel(WorldModel):
    def __init__(self, export_dir: str | Path, providers: list[str] | None = None, maskgit_steps: int | None = None,
                 temperature: float | None = None, schedule: str | None = None, seed: int = 0) -> None:
        import onnxruntime as ort

        export_dir = Path(export_dir)
        meta_path = export_dir / METADATA_FILE
        if not meta_path.is_file():
            raise GenieError(f"{export_dir} is not an ONNX export (no {METADATA_FILE}); run `genie-robotics export` first")
        self.meta = json.loads(meta_path.read_text())
        self.cfg = GenieConfig.load(export_dir / "config.yaml")
        dc = self.cfg.dynamics
        self.maskgit_steps = maskgit_steps if maskgit_steps is not None else dc.maskgit_steps
        self.temperature = temperature if temperature is not None else dc.temperature
        self.schedule = schedule or dc.schedule
        self.use_cache = True
        self.device = torch.device("cpu")
        self.generator = torch.Generator().manual_seed(seed)
        self.state = None
        self.genie = None
        wanted = choose_providers(providers)
        self.sessions = {
            name: ort.InferenceSession(str(export_dir / info["file"]), providers=wanted)
            for name, info in self.meta["graphs"].items()
        }
        self.provider = self.sessions["dynamics_step"].get_providers()[0]
        if self.provider != wanted[0]:
            warnings.warn(f"ONNX Runtime asked for {wanted[0]} but runs on {self.provider} "
                          "(GPU libraries missing?)", RuntimeWarning, stacklevel=2)

    def _single(self, batch: int) -> None:
        if batch != 1:
            raise GenieError(f"the ONNX graphs are exported for batch 1; got a batch of {batch}")

    def _run(self, name: str, *inputs) -> list[np.ndarray]:
        names = self.meta["graphs"][name]["inputs"]
        feeds = {n: (x.cpu().numpy() if isinstance(x, torch.Tensor) else x) for n, x in zip(names, inputs)}
        return self.sessions[name].run(None, feeds)

    def encode_frames(self, frames_BHWC: torch.Tensor) -> torch.Tensor:
        self._single(frames_BHWC.shape[0])
        return torch.from_numpy(self._run("encoder", frames_BHWC)[0])

    def empty_caches(self, batch: int) -> tuple[TemporalCache, TemporalCache]:
        self._single(batch)
        C = self.cfg.frames - 1

        def empty(shape):
            return TemporalCache(torch.zeros(shape), torch.zeros(shape), torch.zeros(C, dtype=torch.bool))

        return empty(self.meta["dynamics_cache_shape"]), empty(self.meta["decoder_cache_shape"])

    def dynamics_step(self, tokens_BN, actions_B, cache):
        action = np.array([self.cfg.num_actions], np.int64) if actions_B is None else actions_B.cpu().numpy().astype(np.int64)
        logits, k, v = self._run("dynamics_step", tokens_BN, action, cache.keys_LXHCD, cache.values_LXHCD, cache.valid_C)
        return torch.from_numpy(logits), torch.from_numpy(k), torch.from_numpy(v)

    def decode_step(self, tokens_BN, cache):
        frame, k, v = self._run("decoder_step", tokens_BN, cache.keys_LXHCD, cache.values_LXHCD, cache.valid_C)
        return torch.from_numpy(frame), cache.append(torch.from_numpy(k), torch.from_numpy(v))
