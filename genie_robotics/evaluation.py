"""Held-out quality of a trained Genie: reconstruction, controllability (ΔtPSNR), rollouts, FVD.

ΔtPSNR (Genie, Sec. 3): PSNR(x_t, x̂_t) − PSNR(x_t, x̂'_t), where x̂_t is generated from the
prompt frame and the latent actions the LAM infers from the ground-truth clip, and x̂'_t from
latent actions drawn uniformly at random. A model whose latent actions control the future scores
above 0; the paper reports 2.07 at t = 4 for its robotics model with a pixel-input LAM. Rollouts
here start from one prompt frame (the world model's reset), so x̂_t is t generated frames away.

A robot arm covers a few percent of a frame, so a rollout that erases it still scores a fair
PSNR. Every rollout PSNR therefore comes with the still-frame baseline (the true prompt held for
every t) and with PSNRs on the moving region: the pixels whose ground truth at t differs from
the prompt by more than `MOVING_THRESHOLD` in some RGB channel (uint8 levels). Moving-region
PSNR pools the squared error over the moving pixels of all clips at t (see `masked_psnr`).
"""
from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genie_robotics import arguments as flags
from genie_robotics.errors import GenieError
from genie_robotics.metrics import masked_psnr, psnr, ssim
from genie_robotics.models.genie import Genie
from genie_robotics.models.maskgit import steps_phrase
from genie_robotics.models.video import to_unit
from genie_robotics.models.world_model import WorldModel

MOVING_THRESHOLD = 25  # uint8 levels: a pixel is in the moving region at t if max_c |x_t - x_0| exceeds this
PAPER_TEMPERATURE = 2.0  # Genie's MaskGIT sampling temperature; ΔtPSNR is also reported at it


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
def rollouts_from_clips(genie: Genie, clips_BTHWC: torch.Tensor, actions_BT: np.ndarray, maskgit_steps: int | None,
                        temperature: float | None, seed: int) -> torch.Tensor:
    """uint8 [B, T, H, W, 3]: frame 0 of each clip as the prompt, then one generated frame per action
    (sampling settings left None are the checkpoint's)."""
    world = WorldModel(genie, maskgit_steps=maskgit_steps, temperature=temperature, seed=seed, device=clips_BTHWC.device)
    return torch.as_tensor(world.rollout(clips_BTHWC[:, 0].cpu().numpy(), actions_BT), device=clips_BTHWC.device)


@torch.no_grad()
def delta_psnr(genie: Genie, clips_BTHWC: torch.Tensor, t: int = 4, maskgit_steps: int | None = None,
               temperature: float | None = None, seed: int = 0) -> dict:
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


def moving_region(clips_BTHWC: torch.Tensor, threshold: int = MOVING_THRESHOLD) -> torch.Tensor:
    """bool [B, T, H, W]: pixels whose uint8 ground truth differs from frame 0 by more than `threshold`."""
    diff_BTHWC = (clips_BTHWC.short() - clips_BTHWC[:, :1].short()).abs()
    return diff_BTHWC.amax(-1) > threshold


def _nan_to_none(values: list[float]) -> list[float | None]:
    return [None if np.isnan(v) else v for v in values]


@torch.no_grad()
def rollout_vs_still_frame(clips_BTHWC: torch.Tensor, frames_BTHWC: torch.Tensor) -> dict[str, list]:
    """Per step t = 1..T-1: the rollout and the still frame scored on whole frames and on the moving region.

    `frames_BTHWC` are uint8 rollouts aligned with the uint8 clips (frame 0 = the prompt). Returns
    lists over t: `rollout_psnr` and `baseline_copy_psnr` (means of per-clip PSNRs, the still frame
    being the true prompt held), `moving_psnr` and `baseline_copy_moving_psnr` (pooled over moving
    pixels; None at a t where no clip moves) and `moving_fraction` (share of pixels in the region).
    """
    target = to_unit(clips_BTHWC)
    still = target[:, :1].expand_as(target)
    moving_BTHW = moving_region(clips_BTHWC)
    steps = range(1, clips_BTHWC.shape[1])

    def whole(guess):
        return [psnr(guess[:, t], target[:, t], per_sample=True).mean().item() for t in steps]

    def moving(guess):
        return _nan_to_none([masked_psnr(guess[:, t], target[:, t], moving_BTHW[:, t]) for t in steps])

    generated = to_unit(frames_BTHWC)
    return {"rollout_psnr": whole(generated), "baseline_copy_psnr": whole(still),
            "moving_psnr": moving(generated), "baseline_copy_moving_psnr": moving(still),
            "moving_fraction": [moving_BTHW[:, t].float().mean().item() for t in steps]}


@dataclass
class EvalOptions:
    """`genie-robotics eval`'s options (each field is its flag; see arguments.option)."""

    model: Path = flags.path_option(help="checkpoint directory", positional=True)
    data: list[str] = flags.option(help="held-out RLDS dataset directory (repeatable)", repeat=True)
    episodes: int = flags.option(32, parse=flags.positive_int, help="episodes to evaluate, one clip each")
    horizon: int = flags.option(8, parse=flags.positive_int, help="generated frames per rollout, >= 4 (ΔtPSNR is at t = 4)")
    part: str = flags.option("all", choices=["all", "validation", "train"],
                             help="episodes to use: all (a held-out dataset) or the validation part training held out")
    maskgit_steps: int | None = flags.maskgit_steps_option()
    temperature: float | None = flags.temperature_option("; ΔtPSNR is also reported at the paper's 2")
    seed: int = flags.seed_option()
    batch: int = flags.option(8, parse=flags.positive_int, help="rollouts generated together")
    i3d: Path | None = flags.path_option(None, help="TorchScript I3D file (features [B, F] from videos "
                                                    "[B, 3, T, 224, 224] in [-1, 1]) for FVD")
    device: str = flags.device_option()
    progress: bool = flags.progress_option()


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


def _delta_psnr_over(genie: Genie, batches: list[torch.Tensor], opts: EvalOptions, temperature: float,
                     desc: str) -> tuple[dict, torch.Tensor]:
    """Clip-weighted means of `delta_psnr`'s scores over all batches, and all LAM-action rollouts."""
    from tqdm import tqdm

    rows, fakes = [], []
    for i, batch in enumerate(tqdm(batches, desc=desc, unit="batch", disable=not opts.progress)):
        scores = delta_psnr(genie, batch, t=4, maskgit_steps=opts.maskgit_steps, temperature=temperature,
                            seed=opts.seed + i)
        fakes.append(scores.pop("frames_inferred"))
        rows.append((len(batch), scores))
    total = sum(n for n, _ in rows)  # batches may differ in size
    means = {key: sum(n / total * np.asarray(scores[key]) for n, scores in rows) for key in rows[0][1]}
    return means, torch.cat(fakes)


def rollout_quality(genie: Genie, clips_BTHWC: torch.Tensor, opts: EvalOptions, temperature: float) -> tuple[dict, torch.Tensor]:
    """The metrics that depend on the sampling settings (`opts.maskgit_steps`, `temperature`):
    ΔtPSNR at t = 4 and the LAM-action rollouts against the still frame; and those rollouts.
    A MaskGIT sweep (bench/maskgit_sweep.py) calls this once per setting on one loaded model."""
    means, fakes = _delta_psnr_over(genie, list(clips_BTHWC.split(opts.batch)), opts, temperature, "eval rollouts")
    quality = {"psnr_inferred_t4": float(means["psnr_inferred"]), "psnr_random_t4": float(means["psnr_random"]),
               "delta_psnr_t4": float(means["delta_psnr"]), **rollout_vs_still_frame(clips_BTHWC, fakes),
               "moving_threshold": MOVING_THRESHOLD}
    return quality, fakes


def evaluate(opts: EvalOptions) -> dict:
    """All metrics of one checkpoint on held-out episodes, as a JSON-ready dict."""
    from genie_robotics.checkpoint import load_checkpoint

    if opts.horizon < 4:
        raise GenieError(f"--horizon must be at least 4 (ΔtPSNR is reported at t = 4), got {opts.horizon}")
    i3d = None
    if opts.i3d is not None:  # a bad I3D file is reported before minutes of rollouts, not after
        from genie_robotics.fvd import I3DFeatures

        i3d = I3DFeatures(opts.i3d, opts.device)
    start = time.time()
    genie = load_checkpoint(opts.model, opts.device).eval()
    temperature = float(opts.temperature if opts.temperature is not None else genie.cfg.dynamics.temperature)
    opts = dataclasses.replace(opts, maskgit_steps=opts.maskgit_steps or genie.cfg.dynamics.maskgit_steps)
    clips = held_out_clips(genie.cfg, opts).to(opts.device)
    batches = list(clips.split(opts.batch))
    result = {"model": str(opts.model), "data": [str(d) for d in opts.data], "part": opts.part, "clips": len(clips),
              "horizon": opts.horizon, "maskgit_steps": opts.maskgit_steps, "temperature": temperature,
              "seed": opts.seed}
    result.update(tokenizer_quality(genie, batches))
    quality, fakes = rollout_quality(genie, clips, opts, temperature)
    result.update(quality)
    if temperature == PAPER_TEMPERATURE:
        result["delta_psnr_t4_temp2"] = result["delta_psnr_t4"]
    else:
        means_paper, _ = _delta_psnr_over(genie, batches, opts, PAPER_TEMPERATURE, "eval rollouts, temperature 2")
        result["delta_psnr_t4_temp2"] = float(means_paper["delta_psnr"])
    if i3d is not None:
        from genie_robotics.fvd import fvd

        result["fvd"] = fvd(to_unit(clips), to_unit(fakes), i3d, batch=opts.batch)
        result["fvd_note"] = f"{len(clips)} clips of {opts.horizon + 1} frames: small samples bias FVD upwards"
    result["seconds"] = round(time.time() - start, 1)
    return result


def format_table(result: dict) -> str:
    """The eval result as a readable table."""
    lines = [f"eval of {result['model']} on {result['clips']} held-out clips ({', '.join(result['data'])}, "
             f"{result['part']}; {steps_phrase(result['maskgit_steps'])}, temperature {result['temperature']})",
             f"  {'tokenizer PSNR':<28}{result['tokenizer_psnr']:>9.2f} dB",
             f"  {'tokenizer SSIM':<28}{result['tokenizer_ssim']:>9.4f}",
             f"  {'PSNR t=4, LAM actions':<28}{result['psnr_inferred_t4']:>9.2f} dB",
             f"  {'PSNR t=4, random actions':<28}{result['psnr_random_t4']:>9.2f} dB",
             f"  {'ΔtPSNR t=4':<28}{result['delta_psnr_t4']:>9.2f} dB",
             f"  {'ΔtPSNR t=4, temperature 2':<28}{result['delta_psnr_t4_temp2']:>9.2f} dB"]
    if "fvd" in result:
        lines.append(f"  {'FVD':<28}{result['fvd']:>9.1f}")
    lines += [f"  PSNR (dB) by step t; still: the prompt held; moving: pixels the ground truth changes by more "
              f"than {result['moving_threshold']}/255 from the prompt",
              f"  {'t':>4}{'model':>8}{'still':>8}{'model, moving':>15}{'still, moving':>15}{'moving pixels':>15}"]
    for t, row in enumerate(zip(result["rollout_psnr"], result["baseline_copy_psnr"], result["moving_psnr"],
                                result["baseline_copy_moving_psnr"]), start=1):
        cells = [f"{v:.2f}" if v is not None else "n/a" for v in row]
        lines.append(f"  {t:>4}{cells[0]:>8}{cells[1]:>8}{cells[2]:>15}{cells[3]:>15}"
                     f"{result['moving_fraction'][t - 1]:>15.1%}")
    return "\n".join(lines)


def write_json(result: dict, path: str | Path) -> Path:
    from genie_robotics.atomic_files import atomic_write_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    return path
