"""Held-out quality of a trained Genie: reconstruction, controllability (ΔtPSNR), rollouts, FVD.

ΔtPSNR (Genie, Sec. 3): PSNR(x_t, x̂_t) − PSNR(x_t, x̂'_t), where x̂_t is generated from the
prompt frame and the latent actions the LAM infers from the ground-truth clip, and x̂'_t from
latent actions drawn uniformly at random. A model whose latent actions control the future scores
above 0; the paper reports 2.07 at t = 4 for its robotics model with a pixel-input LAM. Rollouts
here start from one prompt frame (the world model's reset), so x̂_t is t generated frames away.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from genie_robotics.errors import GenieError
from genie_robotics.metrics import psnr, ssim
from genie_robotics.models.genie import Genie
from genie_robotics.models.video import to_unit
from genie_robotics.models.world_model import WorldModel


@torch.no_grad()
def tokenizer_psnr(genie: Genie, clips_BTHWC: Iterable[torch.Tensor]) -> float:
    """Mean per-clip PSNR (dB) of tokenizer reconstructions over batches of uint8 clips."""
    return tokenizer_quality(genie, clips_BTHWC)["tokenizer_psnr"]


@torch.no_grad()
def tokenizer_quality(genie: Genie, clips_BTHWC: Iterable[torch.Tensor]) -> dict[str, float]:
    """Mean per-clip PSNR (dB) and SSIM of tokenizer reconstructions over batches of uint8 clips."""
    psnrs, ssims = [], []
    for clips in clips_BTHWC:
        recon, target = genie.tokenizer.decode(genie.tokenizer.encode(clips)), to_unit(clips)
        psnrs += psnr(recon, target, per_sample=True).tolist()
        ssims += ssim(recon, target, per_sample=True).tolist()
    return {"tokenizer_psnr": float(np.mean(psnrs)), "tokenizer_ssim": float(np.mean(ssims))}


@torch.no_grad()
def rollouts_from_clips(genie: Genie, clips_BTHWC: torch.Tensor, actions_BT: np.ndarray, maskgit_steps: int,
                        temperature: float, seed: int) -> torch.Tensor:
    """uint8 [B, T, H, W, 3]: frame 0 of each clip as the prompt, then one generated frame per action."""
    world = WorldModel(genie, maskgit_steps=maskgit_steps, temperature=temperature, seed=seed, device=clips_BTHWC.device)
    return torch.as_tensor(world.rollout(clips_BTHWC[:, 0].cpu().numpy(), actions_BT), device=clips_BTHWC.device)


@torch.no_grad()
def delta_psnr(genie: Genie, clips_BTHWC: torch.Tensor, t: int = 4, maskgit_steps: int = 25,
               temperature: float = 2.0, seed: int = 0) -> dict:
    """ΔtPSNR at horizon t on clips of at least t+1 frames (frame 0 is the prompt).

    Also returns `rollout_psnr` (PSNR of the LAM-action rollout at every step 1..T-1 of the
    clip) and the rollouts themselves (`frames_inferred`, for FVD).
    """
    if clips_BTHWC.shape[1] < t + 1:
        raise ValueError(f"clips of {clips_BTHWC.shape[1]} frames are too short for t = {t}")
    inferred = genie.lam.infer(clips_BTHWC).quantized.indices.cpu().numpy()  # [B, T-1]
    random = np.random.default_rng(seed).integers(0, genie.cfg.num_actions, size=(inferred.shape[0], t))
    target = to_unit(clips_BTHWC)
    frames = rollouts_from_clips(genie, clips_BTHWC, inferred, maskgit_steps, temperature, seed)
    per_t = [psnr(to_unit(frames[:, s]), target[:, s], per_sample=True).mean().item() for s in range(1, frames.shape[1])]
    random_frames = rollouts_from_clips(genie, clips_BTHWC[:, : t + 1], random, maskgit_steps, temperature, seed)
    scores = {
        "psnr_inferred": per_t[t - 1],
        "psnr_random": psnr(to_unit(random_frames[:, t]), target[:, t], per_sample=True).mean().item(),
        "rollout_psnr": per_t,
        "frames_inferred": frames,
    }
    scores["delta_psnr"] = scores["psnr_inferred"] - scores["psnr_random"]
    return scores


@dataclass
class EvalOptions:
    model: Path
    data: list[str]
    episodes: int = 32  # clips, one per held-out episode
    horizon: int = 8  # generated frames per rollout (ΔtPSNR needs >= 4)
    part: str = "all"  # "validation" = the episodes training held out of the same dataset
    maskgit_steps: int = 25
    temperature: float = 2.0
    seed: int = 0
    batch: int = 8
    i3d: Path | None = None
    device: str = "cpu"
    progress: bool = True


def held_out_clips(cfg, opts: EvalOptions) -> torch.Tensor:
    """One clip of horizon+1 frames from the start of each of up to `episodes` episodes."""
    from genie_robotics.data.rlds_reader import ClipSpec, RLDSClipDataset

    frames = opts.horizon + 1
    spec = ClipSpec(frames=frames, height=cfg.height, width=cfg.width, stride=1 << 30, shuffle_buffer=0,
                    repeat=False, part=opts.part, seed=opts.seed)
    clips = []
    for item in RLDSClipDataset(opts.data, spec):
        clips.append(item["frames"])
        if len(clips) == opts.episodes:
            break
    if not clips:
        raise GenieError(f"no episode of {', '.join(map(str, opts.data))} ({opts.part}) has {frames} frames "
                         f"(--horizon {opts.horizon} needs episodes of at least {frames} steps)")
    return torch.stack(clips)


def evaluate(opts: EvalOptions) -> dict:
    """All metrics of one checkpoint on held-out episodes, as a JSON-ready dict."""
    from tqdm import tqdm

    from genie_robotics.checkpoint import load_checkpoint

    if opts.horizon < 4:
        raise GenieError(f"--horizon must be at least 4 (ΔtPSNR is reported at t = 4), got {opts.horizon}")
    start = time.time()
    genie = load_checkpoint(opts.model, opts.device).eval()
    clips = held_out_clips(genie.cfg, opts).to(opts.device)
    batches = list(clips.split(opts.batch))
    result = {"model": str(opts.model), "data": [str(d) for d in opts.data], "part": opts.part, "clips": len(clips),
              "horizon": opts.horizon, "maskgit_steps": opts.maskgit_steps, "temperature": opts.temperature,
              "seed": opts.seed}
    result.update(tokenizer_quality(genie, batches))
    rows, fakes = [], []
    for i, batch in enumerate(tqdm(batches, desc="eval rollouts", unit="batch", disable=not opts.progress)):
        scores = delta_psnr(genie, batch, t=4, maskgit_steps=opts.maskgit_steps, temperature=opts.temperature,
                            seed=opts.seed + i)
        fakes.append(scores.pop("frames_inferred"))
        rows.append((len(batch), scores))
    weights = np.array([n for n, _ in rows], float) / len(clips)  # batches may differ in size

    def mean(key: str) -> np.ndarray:
        return sum(w * np.asarray(scores[key]) for w, (_, scores) in zip(weights, rows))

    result.update({"psnr_inferred_t4": float(mean("psnr_inferred")), "psnr_random_t4": float(mean("psnr_random")),
                   "delta_psnr_t4": float(mean("delta_psnr")), "rollout_psnr": mean("rollout_psnr").tolist()})
    if opts.i3d is not None:
        from genie_robotics.fvd import fvd

        result["fvd"] = fvd(to_unit(clips), to_unit(torch.cat(fakes)), opts.i3d, batch=opts.batch, device=opts.device)
        result["fvd_note"] = f"{len(clips)} clips of {opts.horizon + 1} frames: small samples bias FVD upwards"
    result["seconds"] = round(time.time() - start, 1)
    return result


def format_table(result: dict) -> str:
    """The eval result as a readable table."""
    lines = [f"eval of {result['model']} on {result['clips']} held-out clips ({', '.join(result['data'])}, "
             f"{result['part']}; {result['maskgit_steps']} MaskGIT steps, temperature {result['temperature']})",
             f"  {'tokenizer PSNR':<28}{result['tokenizer_psnr']:>9.2f} dB",
             f"  {'tokenizer SSIM':<28}{result['tokenizer_ssim']:>9.4f}",
             f"  {'PSNR t=4, LAM actions':<28}{result['psnr_inferred_t4']:>9.2f} dB",
             f"  {'PSNR t=4, random actions':<28}{result['psnr_random_t4']:>9.2f} dB",
             f"  {'ΔtPSNR t=4':<28}{result['delta_psnr_t4']:>9.2f} dB"]
    if "fvd" in result:
        lines.append(f"  {'FVD':<28}{result['fvd']:>9.1f}")
    lines.append("  rollout PSNR by step t: " + "  ".join(f"t={t}: {v:.2f}" for t, v in
                                                         enumerate(result["rollout_psnr"], start=1)))
    return "\n".join(lines)


def write_json(result: dict, path: str | Path) -> Path:
    from genie_robotics.checkpoint import atomic_write_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    return path
