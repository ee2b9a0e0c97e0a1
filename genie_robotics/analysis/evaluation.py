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
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genie_robotics.core import options as flags
from genie_robotics.core.errors import GenieError
from genie_robotics.core.results import Result, result_field
from genie_robotics.core.sampling import Sampling
from genie_robotics.models.genie import Genie
from genie_robotics.models.video import to_unit
from genie_robotics.nn.metrics import masked_psnr, psnr, ssim
from genie_robotics.sim.world_model import WorldModel

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

    Also returns `rollout_psnr` and `random_psnr` (PSNR of the LAM-action and the random-action
    rollouts at every step 1..T-1 of the clip) and the rollouts themselves (`frames_inferred`,
    `frames_random`).
    """
    if clips_BTHWC.shape[1] < t + 1:
        raise ValueError(f"clips of {clips_BTHWC.shape[1]} frames are too short for t = {t}")
    inferred = genie.lam.infer(clips_BTHWC).quantized.indices.cpu().numpy()  # [B, T-1]
    random = np.random.default_rng(seed).integers(0, genie.cfg.num_actions, size=inferred.shape)
    frames = rollouts_from_clips(genie, clips_BTHWC, inferred, maskgit_steps, temperature, seed)
    random_frames = rollouts_from_clips(genie, clips_BTHWC, random, maskgit_steps, temperature, seed)
    per_t, random_per_t = per_step_psnr(clips_BTHWC, frames), per_step_psnr(clips_BTHWC, random_frames)
    return {"psnr_inferred": per_t[t - 1], "psnr_random": random_per_t[t - 1],
            "delta_psnr": per_t[t - 1] - random_per_t[t - 1], "rollout_psnr": per_t, "random_psnr": random_per_t,
            "frames_inferred": frames, "frames_random": random_frames}


def per_step_psnr(clips_BTHWC: torch.Tensor, frames_BTHWC: torch.Tensor) -> list[float]:
    """PSNR of generated frame t against the truth, for t = 1..T-1, from the squared error pooled
    over all clips (see `rollout_vs_still_frame` for why pooled)."""
    target, generated = to_unit(clips_BTHWC), to_unit(frames_BTHWC)
    return [psnr(generated[:, s], target[:, s]).item() for s in range(1, frames_BTHWC.shape[1])]


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
    lists over t: `rollout_psnr` and `baseline_copy_psnr` (the still frame being the true prompt
    held), `moving_psnr` and `baseline_copy_moving_psnr` (over moving pixels only; None at a t where
    no clip moves) and `moving_fraction` (share of pixels in the region). Every PSNR is of the
    squared error pooled over all clips at t, not a mean of per-clip PSNRs: robot video pauses,
    and where a clip's arm has not moved yet the still frame is exact, its PSNR infinite (clamped
    at 100 dB), which would swamp a mean.
    """
    target = to_unit(clips_BTHWC)
    still = target[:, :1].expand_as(target)
    moving_BTHW = moving_region(clips_BTHWC)
    steps = range(1, clips_BTHWC.shape[1])

    def whole(guess):
        return [psnr(guess[:, t], target[:, t]).item() for t in steps]

    def moving(guess):
        return _nan_to_none([masked_psnr(guess[:, t], target[:, t], moving_BTHW[:, t]) for t in steps])

    generated = to_unit(frames_BTHWC)
    return {"rollout_psnr": whole(generated), "baseline_copy_psnr": whole(still),
            "moving_psnr": moving(generated), "baseline_copy_moving_psnr": moving(still),
            "moving_fraction": [moving_BTHW[:, t].float().mean().item() for t in steps]}


DELTA_STEPS = (4, 16, 32)  # ΔtPSNR is reported at each of these t the horizon reaches


@dataclass
class EvalOptions:
    """`genie-robotics eval`'s options (each field is its flag; see arguments.option)."""

    model: Path = flags.path_option(help="checkpoint directory", positional=True)
    data: list[str] = flags.option(help="held-out RLDS dataset directory (repeatable)", repeat=True)
    episodes: int = flags.option(32, parse=flags.positive_int, help="episodes to evaluate, one clip each")
    horizon: int = flags.option(8, parse=flags.positive_int,
                                help="generated frames per rollout, >= 4 (ΔtPSNR at t = 4, 16 and 32 where reached)")
    part: str = flags.option("all", choices=["all", "validation", "train"],
                             help="episodes to use: all (a held-out dataset) or the validation part training held out")
    command_map: Path | None = flags.path_option(None, help="directory holding a command_map.json (default: the "
                                                            "checkpoint's, when it has one); rollouts driven by the "
                                                            "data's recorded commands need the data's world_vector")
    maskgit_steps: int | None = flags.maskgit_steps_option()
    temperature: float | None = flags.temperature_option("; ΔtPSNR at t = 4 is also reported at the paper's 2")
    unmasking: str | None = flags.unmasking_option()
    seed: int = flags.seed_option()
    batch: int = flags.option(8, parse=flags.positive_int, help="rollouts generated together")
    i3d: Path | None = flags.path_option(None, help="TorchScript I3D file (features [B, F] from videos "
                                                    "[B, 3, T, 224, 224] in [-1, 1]) for FVD")
    device: str = flags.device_option()
    progress: bool = flags.progress_option()


@dataclass
class HeldOutClips:
    """One clip per held-out episode and, when the data records them, the commands of its steps."""

    frames_BTHWC: torch.Tensor
    commands_BTF: np.ndarray | None  # action/world_vector (+ gripper) applied after each frame


def held_out_clips(cfg, opts: EvalOptions, with_commands: bool = False) -> HeldOutClips:
    """One clip of horizon+1 frames from the start of each of up to `episodes` episodes; with
    `with_commands`, the recorded commands too (None when a dataset has no world_vector)."""
    from genie_robotics.commands import COMMAND_KEY, GRIPPER_KEY
    from genie_robotics.data.rlds_reader import ClipSpec, RLDSClipDataset, open_rlds

    frames = opts.horizon + 1
    columns = []
    if with_commands:
        for item in opts.data:
            src = open_rlds(item)
            vector, gripper = src.action_columns(COMMAND_KEY), src.action_columns(GRIPPER_KEY)
            columns.append(None if vector is None else [vector] + ([gripper] if gripper is not None else []))
    commands_known = bool(columns) and all(c is not None for c in columns) and len({len(c) for c in columns}) == 1
    spec = ClipSpec(frames=frames, height=cfg.height, width=cfg.width, stride=1 << 30, shuffle_buffer=0,
                    repeat=False, part=opts.part, seed=opts.seed, with_actions=commands_known)
    clips, commands = [], []
    for item in RLDSClipDataset(opts.data, spec):
        clips.append(item["frames"])
        if commands_known:
            actions = item["actions"].numpy()
            commands.append(np.concatenate([actions[:, c] for c in columns[0]], axis=1))
        if len(clips) == opts.episodes:
            break
    if not clips:
        raise GenieError(f"no episode of {', '.join(map(str, opts.data))} ({opts.part}) has {frames} frames "
                         f"(--horizon {opts.horizon} needs episodes of at least {frames} steps)")
    return HeldOutClips(torch.stack(clips), np.stack(commands).astype(np.float64) if commands_known else None)


@dataclass(frozen=True)
class RolloutQuality(Result):
    """The rollout metrics of one sampling setting (see `rollout_quality`); lists are over t = 1..horizon."""

    rollout_psnr: list[float]  # driven by the LAM's codes
    baseline_copy_psnr: list[float]  # the still frame: the true prompt held
    moving_psnr: list[float | None]  # None at a t where nothing moves
    baseline_copy_moving_psnr: list[float | None]
    moving_fraction: list[float]
    random_psnr: list[float]  # driven by uniformly random codes
    random_moving_psnr: list[float | None]
    commands_psnr: list[float] | None  # driven by the recorded commands (None without a command map)
    commands_moving_psnr: list[float | None] | None
    delta_psnr_t4: float | None  # ΔtPSNR at each of DELTA_STEPS (None beyond the horizon)
    delta_psnr_t16: float | None
    delta_psnr_t32: float | None
    psnr_inferred_t4: float
    psnr_random_t4: float
    moving_threshold: int

    def delta_psnr_at(self, t: int) -> float | None:
        """ΔtPSNR at t, one of DELTA_STEPS (None where the horizon does not reach it)."""
        if t not in DELTA_STEPS:
            raise ValueError(f"ΔtPSNR is reported at t = {DELTA_STEPS}, not {t}")
        return getattr(self, f"delta_psnr_t{t}")


def rollout_quality(genie: Genie, clips_BTHWC: torch.Tensor, opts: EvalOptions, temperature: float,
                    command_codes_BT: np.ndarray | None = None) -> tuple[RolloutQuality, torch.Tensor, torch.Tensor | None]:
    """The metrics that depend on the sampling settings (`opts.maskgit_steps`, `temperature`):
    rollouts driven by the LAM's codes, by uniformly random codes and (given `command_codes_BT`,
    the recorded commands through a command map) by the commands, each against the still frame,
    on whole frames and the moving region; ΔtPSNR at t = 4, 16, 32. Returns them, the LAM
    rollouts and the command-driven rollouts (None without commands). A MaskGIT sweep
    (bench/maskgit_sweep.py) calls this once per setting."""
    from tqdm import tqdm

    lam, random, commands = [], [], []
    batches = list(clips_BTHWC.split(opts.batch))
    for i, batch in enumerate(tqdm(batches, desc="eval rollouts", unit="batch", disable=not opts.progress)):
        scores = delta_psnr(genie, batch, t=4, maskgit_steps=opts.maskgit_steps, temperature=temperature,
                            seed=opts.seed + i)
        lam.append(scores["frames_inferred"])
        random.append(scores["frames_random"])
        if command_codes_BT is not None:
            first = i * opts.batch
            codes = command_codes_BT[first:first + len(batch), : batch.shape[1] - 1]
            commands.append(rollouts_from_clips(genie, batch, codes, opts.maskgit_steps, temperature, opts.seed + i))
    lam_BT, random_BT = torch.cat(lam), torch.cat(random)
    driven_BT = torch.cat(commands) if commands else None
    lam_scores = rollout_vs_still_frame(clips_BTHWC, lam_BT)
    random_psnr = per_step_psnr(clips_BTHWC, random_BT)
    driven = rollout_vs_still_frame(clips_BTHWC, driven_BT) if driven_BT is not None else None
    horizon = clips_BTHWC.shape[1] - 1
    deltas = {f"delta_psnr_t{t}": lam_scores["rollout_psnr"][t - 1] - random_psnr[t - 1] if t <= horizon else None
              for t in DELTA_STEPS}
    quality = RolloutQuality(
        **lam_scores, random_psnr=random_psnr,
        random_moving_psnr=rollout_vs_still_frame(clips_BTHWC, random_BT)["moving_psnr"],
        commands_psnr=None if driven is None else driven["rollout_psnr"],
        commands_moving_psnr=None if driven is None else driven["moving_psnr"],
        **deltas, psnr_inferred_t4=lam_scores["rollout_psnr"][3], psnr_random_t4=random_psnr[3],
        moving_threshold=MOVING_THRESHOLD)
    return quality, lam_BT, driven_BT


def _delta_psnr_t4(genie: Genie, clips_BTHWC: torch.Tensor, opts: EvalOptions, temperature: float) -> float:
    """ΔtPSNR at t = 4 alone (rollouts of 4 steps), clip-weighted over batches."""
    short = clips_BTHWC[:, :5]
    total = [(len(b), delta_psnr(genie, b, t=4, maskgit_steps=opts.maskgit_steps, temperature=temperature,
                                 seed=opts.seed + i)["delta_psnr"]) for i, b in enumerate(short.split(opts.batch))]
    return float(sum(n * d for n, d in total) / sum(n for n, _ in total))


HOLD_STEPS = 8  # zero commands in a row for the hold-still check


@torch.no_grad()
def hold_still_psnr(genie: Genie, clips_BTHWC: torch.Tensor, command_map, opts: EvalOptions, temperature: float) -> float:
    """PSNR of the frame after HOLD_STEPS zero commands against the true prompt (pooled over clips):
    a robot told to stop must stay where it is, and the world model alone must keep it there."""
    code = int(command_map.latent_actions(np.zeros(3)))
    held = []
    for i, batch in enumerate(clips_BTHWC.split(opts.batch)):
        codes = np.full((len(batch), HOLD_STEPS), code)
        held.append(rollouts_from_clips(genie, batch[:, :1], codes, opts.maskgit_steps, temperature, opts.seed + i)[:, -1])
    return psnr(to_unit(torch.cat(held)), to_unit(clips_BTHWC[:, 0])).item()


def command_codes(command_map, commands_BTF: np.ndarray | None) -> np.ndarray | None:
    """Latent actions [B, T] of recorded commands through a command map (None if either is missing)."""
    if command_map is None or commands_BTF is None:
        return None
    return command_map.latent_actions(commands_BTF[..., : command_map.command_dim])


@dataclass(frozen=True, kw_only=True)
class EvalResult(Result):
    """`genie-robotics eval`'s result; `to_json()` is its JSON file (`--json`, a checkpoint's eval.json),
    with the rollout metrics' keys at the top level."""

    model: str
    data: list[str]
    part: str
    clips: int
    horizon: int
    maskgit_steps: int
    temperature: float
    unmasking: str
    seed: int
    command_map: dict[str, Any] | None  # what the command map was fitted on (None without one)
    tokenizer_psnr: float
    tokenizer_ssim: float
    quality: RolloutQuality = result_field(flatten=True)
    zero_command_psnr_t8: float | None  # with a command map: HOLD_STEPS zero commands vs the prompt
    delta_psnr_t4_temp2: float  # ΔtPSNR at t = 4 at the paper's temperature
    fvd: float | None = result_field(None, omit_none=True)  # with --i3d only
    fvd_note: str | None = result_field(None, omit_none=True)
    seconds: float


def evaluate(opts: EvalOptions, return_rollouts: bool = False):
    """All metrics of one checkpoint on held-out episodes, as an `EvalResult` (and, with
    `return_rollouts`, the clips, the LAM rollouts and the command-driven rollouts too)."""
    from genie_robotics.commands import COMMAND_MAP_FILE, load_command_map
    from genie_robotics.models.checkpoint import load_checkpoint

    if opts.horizon < 4:
        raise GenieError(f"--horizon must be at least 4 (ΔtPSNR is reported at t = 4), got {opts.horizon}")
    i3d = None
    if opts.i3d is not None:  # a bad I3D file is reported before minutes of rollouts, not after
        from genie_robotics.analysis.fvd import I3DFeatures

        i3d = I3DFeatures(opts.i3d, opts.device)
    start = time.time()
    genie = load_checkpoint(opts.model, opts.device).eval()
    command_map = None
    map_dir = opts.command_map or (opts.model if (Path(opts.model) / COMMAND_MAP_FILE).is_file() else None)
    if map_dir is not None:
        command_map = load_command_map(map_dir, codebook_AD=genie.lam.quantizer.codebook)
    sampling = Sampling.resolve(genie.cfg, opts.maskgit_steps, opts.temperature, unmasking=opts.unmasking)
    genie.cfg = dataclasses.replace(genie.cfg, dynamics=dataclasses.replace(genie.cfg.dynamics, unmasking=sampling.unmasking))
    temperature = float(sampling.temperature)
    opts = dataclasses.replace(opts, maskgit_steps=sampling.steps)
    held = held_out_clips(genie.cfg, opts, with_commands=command_map is not None)
    clips = held.frames_BTHWC.to(opts.device)
    tokenizer = tokenizer_quality(genie, list(clips.split(opts.batch)))
    quality, fakes, driven = rollout_quality(genie, clips, opts, temperature, command_codes(command_map, held.commands_BTF))
    zero_command_psnr = None if command_map is None else hold_still_psnr(genie, clips, command_map, opts, temperature)
    delta_psnr_t4_temp2 = (quality.delta_psnr_t4 if temperature == PAPER_TEMPERATURE
                           else _delta_psnr_t4(genie, clips, opts, PAPER_TEMPERATURE))
    fvd_score = fvd_note = None
    if i3d is not None:
        from genie_robotics.analysis.fvd import fvd

        fvd_score = fvd(to_unit(clips), to_unit(fakes), i3d, batch=opts.batch)
        fvd_note = f"{len(clips)} clips of {opts.horizon + 1} frames: small samples bias FVD upwards"
    result = EvalResult(
        model=str(opts.model), data=[str(d) for d in opts.data], part=opts.part, clips=len(clips),
        horizon=opts.horizon, maskgit_steps=opts.maskgit_steps, temperature=temperature, unmasking=sampling.unmasking,
        seed=opts.seed, command_map=None if command_map is None else command_map.fitted_on, **tokenizer, quality=quality,
        zero_command_psnr_t8=zero_command_psnr, delta_psnr_t4_temp2=delta_psnr_t4_temp2, fvd=fvd_score,
        fvd_note=fvd_note, seconds=round(time.time() - start, 1))
    return (result, clips, fakes, driven) if return_rollouts else result
