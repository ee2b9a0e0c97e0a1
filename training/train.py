"""DeepSpeed entry point for one phase of Genie training (run once per rank).

Phases, in order: `tokenizer` trains the video tokenizer; `lam` the latent action model; then
`dynamics` the dynamics model with the tokenizer and the LAM frozen (Genie, Sec. 2.2 trains LAM
and dynamics together; see models/genie.py for why they are split here). Clips come from RLDS
datasets through `RLDSClipDataset`, each rank reading its own episodes.

A run directory holds both phases:
  RUN_DIR/export/                 latest consolidated weights (safetensors + config.yaml): what
                                  the rest of the product loads; the dynamics phase starts here
  RUN_DIR/<stage>/checkpoints/    DeepSpeed checkpoints (+ `latest`, written atomically)
  RUN_DIR/<stage>/tensorboard/    losses, learning rate, codebook usage, PSNR, image grids
  RUN_DIR/<stage>/train_config.yaml  the resolved arguments; ranks/ parameter digests per rank

Launched by `genie-robotics train` (the `deepspeed` launcher for several processes, or
in-process for one); it can also be launched directly: `deepspeed --module training.train ...`.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from genie_robotics.arguments import OneLineParser, nonnegative_int, positive_float, positive_int, probability
from genie_robotics.atomic_files import atomic_write_text
from genie_robotics.checkpoint import load_checkpoint, save_checkpoint
from genie_robotics.config import GenieConfig, preset
from genie_robotics.errors import GenieError
from genie_robotics.models.genie import STAGES, Genie
from genie_robotics.trainer import warmup_cosine
from training.run_dir import RunDir, check_writable, describe_write_error, tensors_only_loading, truncate_metrics

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_CPU_CONFIG = CONFIG_DIR / "ds_cpu_fp32.json"
DEFAULT_GPU_CONFIG = CONFIG_DIR / "ds_zero2_bf16.json"
KEEP_CHECKPOINTS = 2
PREVIEW_MASKGIT_STEPS = 4  # the TensorBoard rollout grid's sampling, for speed (not a model default)


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="genie-robotics train", description="Train one phase of the Genie stack with DeepSpeed.")
    p.add_argument("--stage", required=True, choices=STAGES,
                   help="tokenizer first, then lam, then dynamics (each starts from RUN_DIR/export)")
    p.add_argument("--data", required=True, action="append", help="RLDS dataset directory, optionally DIR:weight; repeat to mix")
    p.add_argument("--preset", default="tiny", help="model preset (tiny, small, robotics-2.5b)")
    p.add_argument("--config", help="model config YAML/JSON instead of --preset")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--steps", type=positive_int, default=1000, help="optimizer steps (default 1000)")
    p.add_argument("--deepspeed", help="DeepSpeed JSON config (default training/ds_cpu_fp32.json on CPU, ds_zero2_bf16.json on GPU)")
    p.add_argument("--num-procs", type=positive_int, default=1, help="processes (GPUs, or CPU processes with gloo) on this node")
    p.add_argument("--hostfile", help="DeepSpeed hostfile for multi-node runs")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in the run directory")
    p.add_argument("--stop-at", type=positive_int, help="save and stop at this step (e.g. a job time limit); continue with --resume")
    p.add_argument("--init", help="checkpoint to start from (default for lam and dynamics: RUN_DIR/export, the earlier phases)")
    p.add_argument("--micro-batch", type=positive_int, help="clips per process per micro-step (overrides the DeepSpeed config)")
    p.add_argument("--grad-accum", type=positive_int, help="gradient accumulation steps (overrides the DeepSpeed config)")
    p.add_argument("--lr", type=positive_float, default=3e-4)
    p.add_argument("--warmup", type=nonnegative_int, default=100, help="warm-up steps before the cosine decay")
    p.add_argument("--clip-frames", type=positive_int, help="frames per training clip (default: the model's context, 16)")
    p.add_argument("--save-every", type=positive_int, default=200, help="checkpoint + export every N steps (and at the end)")
    p.add_argument("--log-every", type=positive_int, default=10)
    p.add_argument("--image-every", type=nonnegative_int, default=200, help="image grid to TensorBoard every N steps (0: never)")
    p.add_argument("--refit-codebook", type=nonnegative_int, default=0, metavar="CLIPS",
                   help="lam phase: after the last step, refit the 8-code codebook by k-means on the encoder outputs "
                        "of CLIPS training clips (0: keep the codebook training found; default 0)")
    p.add_argument("--image-key", help="camera key of the datasets (default: automatic)")
    p.add_argument("--val-fraction", type=probability, default=0.05, help="episodes held out from training")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--local_rank", type=int, default=-1, help=argparse.SUPPRESS)  # set by the deepspeed launcher
    return p


# --- configuration, checked before anything is launched -------------------------------------
def model_config(args: argparse.Namespace) -> GenieConfig:
    return GenieConfig.load(args.config) if args.config else preset(args.preset)


def deepspeed_config(args: argparse.Namespace, world_size: int | None = None) -> dict:
    """The DeepSpeed config with CLI overrides; batch sizes checked for consistency."""
    path = Path(args.deepspeed) if args.deepspeed else (DEFAULT_GPU_CONFIG if torch.cuda.is_available() else DEFAULT_CPU_CONFIG)
    if not path.is_file():
        raise GenieError(f"DeepSpeed config {path} does not exist")
    try:
        cfg = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise GenieError(f"DeepSpeed config {path} does not parse: {exc}") from None
    if not isinstance(cfg, dict):
        raise GenieError(f"DeepSpeed config {path} is not a JSON object")
    if args.micro_batch or args.grad_accum:
        cfg.pop("train_batch_size", None)  # re-derived from the overrides
    if args.micro_batch:
        cfg["train_micro_batch_size_per_gpu"] = args.micro_batch
    if args.grad_accum:
        cfg["gradient_accumulation_steps"] = args.grad_accum
    check_batch_arithmetic(cfg, world_size, str(path))
    return cfg


def check_batch_arithmetic(cfg: dict, world_size: int | None, name: str = "DeepSpeed config") -> None:
    micro = cfg.get("train_micro_batch_size_per_gpu")
    accum = cfg.get("gradient_accumulation_steps", 1)
    if not isinstance(micro, int) or micro < 1 or not isinstance(accum, int) or accum < 1:
        raise GenieError(f"{name}: train_micro_batch_size_per_gpu and gradient_accumulation_steps must be positive integers")
    total = cfg.get("train_batch_size")
    if total is not None and world_size is not None and total != micro * accum * world_size:
        raise GenieError(
            f"{name}: train_batch_size {total} != micro batch {micro} x accumulation {accum} x world size {world_size}"
        )


def validate(args: argparse.Namespace) -> None:
    """Every check that can fail on user input, before any process is launched."""
    from genie_robotics.data.rlds_reader import check_clip_fits, open_rlds, parse_data_arg, part_split

    cfg = model_config(args)
    deepspeed_config(args)
    run = RunDir(Path(args.out), args.stage)
    check_writable(run.root)
    if args.resume and run.latest_tag() is None:
        raise GenieError(f"--resume: no checkpoint to resume from in {run.checkpoints}")
    if not args.resume and run.latest_tag() is not None:
        raise GenieError(f"{run.stage_dir} already holds a run; pass --resume to continue it or choose another --out")
    if args.stage != "tokenizer" and not args.resume:
        init = Path(args.init) if args.init else run.export
        if not (init / "model.safetensors").is_file() and not init.is_file():
            before = "tokenizer" if args.stage == "lam" else "tokenizer and --stage lam"
            raise GenieError(f"the {args.stage} phase starts from the earlier phases' weights: {init} has no checkpoint "
                             f"(train --stage {before} into the same --out first, or pass --init)")
    # Last: the only check that reads the data (one episode, unless every episode is too short).
    frames = args.clip_frames or cfg.frames
    if frames < 2:
        raise GenieError(f"--clip-frames must be >= 2 (a transition), got {frames}")
    for item in args.data:
        path, weight = parse_data_arg(item)
        src = open_rlds(path, image_key=args.image_key, weight=weight)
        check_clip_fits(src, frames, part_split(src, "train", args.val_fraction)[0])


# --- the training loop ------------------------------------------------------------------------
class StageModule(nn.Module):
    """What DeepSpeed wraps: the Genie stack computing one phase's loss terms."""

    def __init__(self, genie: Genie, stage: str) -> None:
        super().__init__()
        self.genie = genie
        self.stage = stage

    def forward(self, frames_BTHWC: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return self.genie.stage_loss(self.stage, frames_BTHWC, generator)

    def train(self, mode: bool = True) -> StageModule:
        super().train(mode)
        if mode:
            self.genie.train_stage_mode(self.stage)  # the other components are frozen
        return self


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _single_process_env() -> None:
    """Rank/world variables for a run without a launcher (else DeepSpeed looks for MPI)."""
    if "RANK" in os.environ:
        return
    os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))


def parameter_digest(module: nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _image_grid(genie: Genie, stage: str, clip_THWC: torch.Tensor) -> np.ndarray:
    """Tokenizer: clip over its reconstruction. LAM: frames 2..T over the decoder's predictions
    from the inferred codes. Dynamics: each latent action rolled out 4 steps."""
    from genie_robotics.models.video import to_uint8
    from genie_robotics.models.world_model import WorldModel
    from genie_robotics.viz import grid

    with torch.no_grad():
        if stage == "tokenizer":
            recon = to_uint8(genie.tokenizer.decode(genie.tokenizer.encode(clip_THWC[None])))[0]
            return grid(torch.stack((clip_THWC, recon)).cpu().numpy())
        if stage == "lam":
            clip = clip_THWC[None]
            pred = to_uint8(genie.lam.reconstruct_next(clip, genie.lam.infer(clip).quantized.codes))[0]
            return grid(torch.stack((clip_THWC[1:], pred)).cpu().numpy())
        # A preview, drawn every --image-every steps: a few MaskGIT steps keep it cheap; the
        # temperature is the config's like everywhere else.
        world = WorldModel(genie, maskgit_steps=PREVIEW_MASKGIT_STEPS, device=clip_THWC.device)
        prompts = clip_THWC[:1].expand(genie.cfg.num_actions, -1, -1, -1).cpu().numpy()
        actions = np.repeat(np.arange(genie.cfg.num_actions)[:, None], 4, axis=1)
        return grid(world.rollout(prompts, actions))


@torch.no_grad()
def refit_lam_codebook(genie: Genie, batches, clips: int, device: torch.device) -> float:
    """k-means refit of the LAM codebook on the encoder outputs of the next `clips` training clips
    (every rank's, gathered); every rank ends with rank 0's codebook."""
    import torch.distributed as dist

    genie.eval()
    latents, seen = [], 0
    while seen < clips:
        frames_BTHWC = next(batches)["frames"].to(device)
        latents.append(genie.lam.encode(frames_BTHWC).flatten(0, 1).float())
        seen += frames_BTHWC.shape[0]
    z_ND = torch.cat(latents)
    if dist.get_world_size() > 1:
        gathered = [torch.empty_like(z_ND) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, z_ND)
        z_ND = torch.cat(gathered)
    quantizer = genie.lam.quantizer
    fit = quantizer.refit(z_ND.cpu())
    for tensor in (quantizer.codebook.data, quantizer.usage):
        dist.broadcast(tensor, src=0)
    return fit


def train(args: argparse.Namespace) -> None:
    import deepspeed
    import torch.distributed as dist
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from genie_robotics.data.rlds_reader import ClipSpec, RLDSClipDataset

    _single_process_env()
    import logging

    from deepspeed.utils import logger as ds_logger

    ds_logger.setLevel(logging.WARNING)
    deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo", verbose=False)
    rank, world = dist.get_rank(), dist.get_world_size()
    run = RunDir(Path(args.out), args.stage)
    cfg = model_config(args)
    ds_config = deepspeed_config(args, world)
    micro, accum = ds_config["train_micro_batch_size_per_gpu"], ds_config.get("gradient_accumulation_steps", 1)

    torch.manual_seed(args.seed)  # same initial weights on every rank
    genie = Genie(cfg)
    if args.stage != "tokenizer" and not args.resume:
        init = load_checkpoint(args.init or run.export)
        if init.cfg != cfg:
            raise GenieError(f"{args.init or run.export} was trained with another model config than --preset/--config")
        genie.load_state_dict(init.state_dict())
    trainable = genie.trainable_parameters(args.stage)
    trainable_ids = {id(p) for p in trainable}
    for p in genie.parameters():
        p.requires_grad_(id(p) in trainable_ids)
    optimizer = torch.optim.AdamW(trainable, lr=args.lr, betas=(0.9, 0.95), weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, args.steps, args.warmup))
    engine, _, _, scheduler = deepspeed.initialize(
        model=StageModule(genie, args.stage), optimizer=optimizer, lr_scheduler=scheduler, config=ds_config,
    )
    device = engine.device

    step, batches_consumed = 0, 0
    if args.resume:
        tag = run.latest_tag()
        with tensors_only_loading():
            _, client = engine.load_checkpoint(str(run.checkpoints), tag=tag)
        step, batches_consumed = int(client["step"]), int(client["batches_consumed"])
        if rank == 0:
            truncate_metrics(run.metrics, step)

    run.stage_dir.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        resolved = {k: v for k, v in vars(args).items() if k != "local_rank"}
        resolved.update(world_size=world, deepspeed_config=ds_config, model=cfg.to_dict())
        import yaml

        atomic_write_text(run.stage_dir / "train_config.yaml", yaml.safe_dump(resolved, sort_keys=False))
    frames = args.clip_frames or cfg.frames
    spec = ClipSpec(frames=frames, height=cfg.height, width=cfg.width, seed=args.seed, val_fraction=args.val_fraction)
    data = RLDSClipDataset(args.data, spec, image_key=args.image_key, rank=rank, world_size=world)
    batches = iter(DataLoader(data, batch_size=micro))
    for _ in range(batches_consumed):  # data position: the pipeline is deterministic, so fast-forward
        next(batches)
    writer = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(run.stage_dir / "tensorboard"))
    zero3 = ds_config.get("zero_optimization", {}).get("stage", 0) == 3

    def save(at_step: int) -> None:
        """Checkpoint + export; `latest` moves only when every rank wrote everything."""
        tag = f"step{at_step:08d}"
        failure: BaseException | None = None
        try:
            engine.save_checkpoint(str(run.checkpoints), tag=tag, save_latest=False,
                                   client_state={"step": at_step, "batches_consumed": batches_consumed})
            with deepspeed.zero.GatheredParameters(list(genie.parameters()), modifier_rank=None, enabled=zero3):
                if rank == 0:
                    save_checkpoint(genie, run.export, {"stage": args.stage, "step": at_step})
        except (OSError, RuntimeError) as exc:  # full disk, read-only directory, torch's zip writer
            failure = exc
        failed = torch.tensor([float(failure is not None)], device=device)
        dist.all_reduce(failed, op=dist.ReduceOp.MAX)  # every rank stops together, none waits forever
        if failed.item():
            if rank == 0:
                shutil.rmtree(run.checkpoints / tag, ignore_errors=True)  # half written; `latest` never named it
            reason = describe_write_error(failure, run.root) if failure else "another rank could not write its part"
            raise GenieError(f"could not write checkpoint {tag} to {run.checkpoints}: {reason}; "
                             f"the last complete checkpoint ({run.latest_tag() or 'none'}) is untouched")
        if rank == 0:  # only now is the new checkpoint complete: point `latest` at it, drop old ones
            atomic_write_text(run.checkpoints / "latest", tag + "\n")
            tags = sorted(p.name for p in run.checkpoints.iterdir() if p.is_dir() and p.name.startswith("step"))
            for old in tags[:-KEEP_CHECKPOINTS]:
                shutil.rmtree(run.checkpoints / old, ignore_errors=True)

    bar = tqdm(total=args.steps, initial=step, desc=f"train {args.stage}", disable=rank != 0 or args.no_progress,
               dynamic_ncols=True)
    engine.train()
    last_time, last_step = time.perf_counter(), step
    stop = min(args.steps, args.stop_at or args.steps)
    refit = args.stage == "lam" and args.refit_codebook > 0
    metrics = open(run.metrics, "a") if rank == 0 else None
    while step < stop:
        for _ in range(accum):
            clip = next(batches)["frames"].to(device)
            batches_consumed += 1
            # Masks drawn from (seed, rank, step): a resumed run draws the same ones.
            generator = torch.Generator(device=device).manual_seed(args.seed * 1_000_003 + rank * 10_007 + batches_consumed)
            terms = engine(clip, generator)
            finite = torch.tensor([float(torch.isfinite(terms["loss"]).item())], device=device)
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
            if finite.item() < 1:
                raise GenieError(f"non-finite {args.stage} loss at step {step + 1}; stopping without saving "
                                 f"(last good checkpoint: {run.latest_tag() or 'none'})")
            engine.backward(terms["loss"])
            engine.step()
        step += 1
        bar.update(1)
        if rank == 0 and (step % args.log_every == 0 or step == args.steps):
            now = time.perf_counter()
            fps = (step - last_step) * micro * accum * world * frames / max(now - last_time, 1e-9)
            last_time, last_step = now, step
            values = {k: float(v.detach().float()) for k, v in terms.items()}
            for k, v in values.items():
                writer.add_scalar(f"{args.stage}/{k}", v, step)
            metrics.write(json.dumps({"step": step, **values, "frames_per_s": round(fps, 1)}) + "\n")
            metrics.flush()
            writer.add_scalar(f"{args.stage}/lr", scheduler.get_last_lr()[0], step)
            writer.add_scalar(f"{args.stage}/frames_per_s", fps, step)
            if args.stage != "dynamics":  # the codebook this phase trains
                usage = getattr(genie, args.stage).quantizer.usage_fractions().float().cpu()
                writer.add_histogram(f"{args.stage}/code_usage", usage, step)
                if args.stage == "lam":
                    for k, u in enumerate(usage.tolist()):
                        writer.add_scalar(f"lam_code_usage/{k}", u, step)
                alive = int((usage > 0.01 / len(usage)).sum())
                if alive <= max(2, len(usage) // 50):
                    bar.write(f"warning: step {step}: codebook collapse, {alive} of {len(usage)} codes in use (restarting dead codes)")
            shown = {k: f"{values[k]:.3g}" for k in ("loss", "psnr", "lam_moving_gain", "dynamics_acc", "lam_codes_used")
                     if k in values}
            bar.set_postfix({**shown, "frames/s": f"{fps:.0f}"}, refresh=False)
        if args.image_every and step % args.image_every == 0 and not zero3 and rank == 0:
            engine.eval()
            writer.add_image(f"{args.stage}/grid", _image_grid(genie, args.stage, clip[0]), step, dataformats="HWC")
            engine.train()
        if (step % args.save_every == 0 or step == stop) and not (refit and step == args.steps):
            save(step)
    bar.close()
    if refit and step == args.steps:  # also when resuming a finished phase: refit, then save
        fit = refit_lam_codebook(genie, batches, args.refit_codebook, device)
        if rank == 0:
            print(f"[train] lam: codebook refit by k-means on {args.refit_codebook} clips per rank (mean cosine fit {fit:.3f})")
        save(step)
    digest = parameter_digest(genie)
    (run.stage_dir / "ranks").mkdir(parents=True, exist_ok=True)
    atomic_write_text(run.stage_dir / "ranks" / f"rank{rank}.json", json.dumps({"step": step, "parameters_sha256": digest}) + "\n")
    if writer:
        writer.close()
        metrics.close()
        done = "done" if step == args.steps else "stopped at --stop-at (continue with --resume)"
        print(f"[train] {args.stage}: {step}/{args.steps} steps {done} on {world} process(es); weights in {run.export}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from genie_robotics.allocator import keep_freed_memory

    keep_freed_memory()  # every step frees and re-allocates the same buffers (see allocator.py)
    try:
        train(args)
    except (GenieError, OSError) as exc:  # OSError: a log or metrics write on a full or read-only disk
        if isinstance(exc, OSError):
            exc = GenieError(f"writing {exc.filename or args.out} failed: {describe_write_error(exc, Path(args.out))}")
        if os.environ.get("RANK", "0") == "0":  # every rank stops; one of them says why
            print(f"genie-robotics train: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
