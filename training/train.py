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
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from genie_robotics.cli.arguments import OneLineParser, add_options, add_verbosity, configure_logging, options_from, verbosity
from genie_robotics.core.atomic_files import atomic_write_text
from genie_robotics.core.checkpoint_files import load_config, save_checkpoint
from genie_robotics.core.config import GenieConfig, preset
from genie_robotics.core.errors import GenieError
from genie_robotics.core.options import (
    nonnegative_int,
    option,
    positive_float,
    positive_int,
    probability,
    progress_option,
    seed_option,
)
from genie_robotics.models.checkpoint import load_checkpoint
from genie_robotics.models.genie import STAGES, Genie
from genie_robotics.nn.optim import make_optimizer, warmup_cosine
from training.run_dir import RunDir, check_writable, describe_write_error, tensors_only_loading, truncate_metrics

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_CPU_CONFIG = CONFIG_DIR / "ds_cpu_fp32.json"
DEFAULT_GPU_CONFIG = CONFIG_DIR / "ds_zero2_bf16.json"
KEEP_CHECKPOINTS = 2
PREVIEW_MASKGIT_STEPS = 4  # the TensorBoard rollout grid's sampling, for speed (not a model default)
log = logging.getLogger("training.train")  # not __name__: the launcher runs this module as __main__


@dataclass
class TrainOptions:
    """`genie-robotics train`'s options (each field is its flag; see genie_robotics.cli.arguments.option).
    Paths stay strings: the resolved options are written to train_config.yaml as they were given."""

    stage: str = option(choices=STAGES, help="tokenizer first, then lam, then dynamics (each starts from RUN_DIR/export)")
    data: list[str] = option(help="RLDS dataset directory, optionally DIR:weight; repeat to mix", repeat=True)
    out: str = option(help="run directory")
    preset: str = option("tiny", help="model preset (tiny, small, robotics-2.5b)")
    config: str | None = option(None, help="model config YAML/JSON instead of --preset")
    steps: int = option(1000, parse=positive_int, help="optimizer steps")
    deepspeed: str | None = option(None, help="DeepSpeed JSON config (default training/ds_cpu_fp32.json on CPU, "
                                              "ds_zero2_bf16.json on GPU)")
    num_procs: int = option(1, parse=positive_int, help="processes (GPUs, or CPU processes with gloo) on this node")
    hostfile: str | None = option(None, help="DeepSpeed hostfile for multi-node runs")
    resume: bool = option(False, help="continue from the latest checkpoint in the run directory")
    stop_at: int | None = option(None, parse=positive_int,
                                 help="save and stop at this step (e.g. a job time limit); continue with --resume")
    init: str | None = option(None, help="checkpoint to start from (default for lam and dynamics: RUN_DIR/export, "
                                         "the earlier phases)")
    micro_batch: int | None = option(None, parse=positive_int,
                                     help="clips per process per micro-step (overrides the DeepSpeed config)")
    grad_accum: int | None = option(None, parse=positive_int,
                                    help="gradient accumulation steps (overrides the DeepSpeed config)")
    lr: float = option(3e-4, parse=positive_float, help="peak learning rate")
    warmup: int = option(100, parse=nonnegative_int, help="warm-up steps before the cosine decay")
    clip_frames: int | None = option(None, parse=positive_int,
                                     help="frames per training clip (default: the model's context, 16)")
    save_every: int = option(200, parse=positive_int, help="checkpoint + export every N steps (and at the end)")
    log_every: int = option(10, parse=positive_int, help="metrics to TensorBoard and metrics.jsonl every N steps")
    image_every: int = option(200, parse=nonnegative_int, help="image grid to TensorBoard every N steps (0: never)")
    refit_codebook: int = option(0, parse=nonnegative_int, metavar="CLIPS",
                                 help="lam phase: after the last step, refit the 8-code codebook by k-means on the "
                                      "encoder outputs of CLIPS training clips (0: keep the codebook training found)")
    image_key: str | None = option(None, help="camera key of the datasets (default: automatic)")
    val_fraction: float = option(0.05, parse=probability, help="episodes held out from training")
    seed: int = seed_option()
    progress: bool = progress_option()


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="genie-robotics train", description="Train one phase of the Genie stack with DeepSpeed.")
    add_options(p, TrainOptions)
    add_verbosity(p)
    p.add_argument("--local_rank", type=int, default=-1, help=argparse.SUPPRESS)  # set by the deepspeed launcher
    return p


def parse_options(argv: list[str] | None) -> tuple[TrainOptions, int]:
    """The options and the logging level (-q / -v) that `argv` asks for."""
    namespace = build_parser().parse_args(argv)
    return options_from(TrainOptions, namespace), verbosity(namespace)


# --- configuration, checked before anything is launched -------------------------------------
def model_config(args: TrainOptions) -> GenieConfig:
    return GenieConfig.load(args.config) if args.config else preset(args.preset)


def deepspeed_config(args: TrainOptions, world_size: int | None = None) -> dict:
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


def validate(args: TrainOptions) -> None:
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
    from genie_robotics.core.images import grid
    from genie_robotics.models.video import to_uint8
    from genie_robotics.sim.world_model import WorldModel

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


class StageRun:
    """One phase's training on this rank, in pieces that each fit on a screen: `__init__` sets
    up (process group, model, DeepSpeed engine, data), `resume` restores a checkpoint, `step`
    runs one optimizer step, `log` writes metrics, `save` checkpoints and exports, `finish`
    leaves the per-rank digest and closes the logs."""

    def __init__(self, opts: TrainOptions) -> None:
        import deepspeed
        import torch.distributed as dist
        from deepspeed.utils import logger as ds_logger

        _single_process_env()
        ds_logger.setLevel(logging.WARNING)
        deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo", verbose=False)
        self.opts, self.rank, self.world = opts, dist.get_rank(), dist.get_world_size()
        self.run = RunDir(Path(opts.out), opts.stage)
        self.cfg = model_config(opts)
        self.ds_config = deepspeed_config(opts, self.world)
        self.micro = self.ds_config["train_micro_batch_size_per_gpu"]
        self.accum = self.ds_config.get("gradient_accumulation_steps", 1)
        self.zero3 = self.ds_config.get("zero_optimization", {}).get("stage", 0) == 3
        self.frames = opts.clip_frames or self.cfg.frames
        self.step, self.batches_consumed = 0, 0
        self.genie, self.engine, self.scheduler = self._build_engine()
        self.device = self.engine.device

    def _build_engine(self):
        """The Genie stack (initial weights from --init / the earlier phases) wrapped by DeepSpeed,
        with only this phase's parameters trainable."""
        import deepspeed

        opts = self.opts
        torch.manual_seed(opts.seed)  # same initial weights on every rank
        init = None
        if opts.stage != "tokenizer" and not opts.resume:
            init = load_checkpoint(opts.init or self.run.export)
            differ = self.cfg.weight_differences(init.cfg)
            if differ:
                raise GenieError(f"{opts.init or self.run.export} was trained with another model config than "
                                 f"--preset/--config: {', '.join(differ[:4])}{' ...' if len(differ) > 4 else ''} differ")
            # The init's sampling defaults were measured on its weights: they stay.
            self.cfg = self.cfg.with_sampling_of(init.cfg)
        elif opts.resume and (self.run.export / "model.safetensors").is_file():  # as exported before the interruption
            self.cfg = self.cfg.with_sampling_of(load_config(self.run.export))
        genie = Genie(self.cfg)
        if init is not None:
            genie.load_state_dict(init.state_dict())
        trainable = genie.trainable_parameters(opts.stage)
        trainable_ids = {id(p) for p in trainable}
        for p in genie.parameters():
            p.requires_grad_(id(p) in trainable_ids)
        optimizer = make_optimizer(trainable, opts.lr)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, opts.steps, opts.warmup))
        engine, _, _, scheduler = deepspeed.initialize(
            model=StageModule(genie, opts.stage), optimizer=optimizer, lr_scheduler=scheduler, config=self.ds_config,
        )
        return genie, engine, scheduler

    def resume(self) -> None:
        """Weights, optimizer and data position from the latest complete checkpoint."""
        with tensors_only_loading():
            _, client = self.engine.load_checkpoint(str(self.run.checkpoints), tag=self.run.latest_tag())
        self.step, self.batches_consumed = int(client["step"]), int(client["batches_consumed"])
        if self.rank == 0:
            truncate_metrics(self.run.metrics, self.step)

    def open_outputs(self) -> None:
        """The data stream (fast-forwarded to the resumed position) and, on rank 0, the resolved
        options, TensorBoard and metrics.jsonl."""
        from torch.utils.data import DataLoader

        from genie_robotics.data.rlds_reader import ClipSpec, RLDSClipDataset

        opts, run = self.opts, self.run
        run.stage_dir.mkdir(parents=True, exist_ok=True)
        spec = ClipSpec(frames=self.frames, height=self.cfg.height, width=self.cfg.width, seed=opts.seed,
                        val_fraction=opts.val_fraction)
        data = RLDSClipDataset(opts.data, spec, image_key=opts.image_key, rank=self.rank, world_size=self.world)
        self.batches = iter(DataLoader(data, batch_size=self.micro))
        for _ in range(self.batches_consumed):  # the pipeline is deterministic, so fast-forward
            next(self.batches)
        self.writer = self.metrics = None
        if self.rank == 0:
            import yaml
            from torch.utils.tensorboard import SummaryWriter

            resolved = {**dataclasses.asdict(opts), "world_size": self.world, "deepspeed_config": self.ds_config,
                        "model": self.cfg.to_dict()}
            atomic_write_text(run.stage_dir / "train_config.yaml", yaml.safe_dump(resolved, sort_keys=False))
            self.writer = SummaryWriter(str(run.stage_dir / "tensorboard"))
            self.metrics = open(run.metrics, "a")

    def step_once(self) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """One optimizer step over `accum` micro-batches; the loss terms and a clip of the last."""
        import torch.distributed as dist

        for _ in range(self.accum):
            clip = next(self.batches)["frames"].to(self.device)
            self.batches_consumed += 1
            # Masks drawn from (seed, rank, step): a resumed run draws the same ones.
            generator = torch.Generator(device=self.device).manual_seed(
                self.opts.seed * 1_000_003 + self.rank * 10_007 + self.batches_consumed)
            terms = self.engine(clip, generator)
            finite = torch.tensor([float(torch.isfinite(terms["loss"]).item())], device=self.device)
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
            if finite.item() < 1:
                raise GenieError(f"non-finite {self.opts.stage} loss at step {self.step + 1}; stopping without saving "
                                 f"(last good checkpoint: {self.run.latest_tag() or 'none'})")
            self.engine.backward(terms["loss"])
            self.engine.step()
        self.step += 1
        return terms, clip

    def log(self, terms: dict[str, torch.Tensor], frames_per_s: float) -> dict[str, float]:
        """Loss terms, learning rate, speed and code usage to TensorBoard and metrics.jsonl (rank 0)."""
        stage, step, writer = self.opts.stage, self.step, self.writer
        values = {k: float(v.detach().float()) for k, v in terms.items()}
        for k, v in values.items():
            writer.add_scalar(f"{stage}/{k}", v, step)
        self.metrics.write(json.dumps({"step": step, **values, "frames_per_s": round(frames_per_s, 1)}) + "\n")
        self.metrics.flush()
        writer.add_scalar(f"{stage}/lr", self.scheduler.get_last_lr()[0], step)
        writer.add_scalar(f"{stage}/frames_per_s", frames_per_s, step)
        if stage != "dynamics":  # the codebook this phase trains
            usage = getattr(self.genie, stage).quantizer.usage_fractions().float().cpu()
            writer.add_histogram(f"{stage}/code_usage", usage, step)
            if stage == "lam":
                for k, u in enumerate(usage.tolist()):
                    writer.add_scalar(f"lam_code_usage/{k}", u, step)
            alive = int((usage > 0.01 / len(usage)).sum())
            if alive <= max(2, len(usage) // 50):
                log.warning(f"step {step}: codebook collapse, {alive} of {len(usage)} codes in use (restarting dead codes)")
        return values

    def preview(self, clip_THWC: torch.Tensor) -> None:
        self.engine.eval()
        self.writer.add_image(f"{self.opts.stage}/grid", _image_grid(self.genie, self.opts.stage, clip_THWC), self.step,
                              dataformats="HWC")
        self.engine.train()

    def save(self) -> None:
        """Checkpoint + export; `latest` moves only when every rank wrote everything."""
        import deepspeed
        import torch.distributed as dist

        run, rank, tag = self.run, self.rank, f"step{self.step:08d}"
        failure: BaseException | None = None
        try:
            self.engine.save_checkpoint(str(run.checkpoints), tag=tag, save_latest=False,
                                        client_state={"step": self.step, "batches_consumed": self.batches_consumed})
            with deepspeed.zero.GatheredParameters(list(self.genie.parameters()), modifier_rank=None, enabled=self.zero3):
                if rank == 0:
                    save_checkpoint(self.genie, run.export, {"stage": self.opts.stage, "step": self.step})
        except (OSError, RuntimeError) as exc:  # full disk, read-only directory, torch's zip writer
            failure = exc
        failed = torch.tensor([float(failure is not None)], device=self.device)
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

    def finish(self) -> None:
        """The per-rank parameter digest (ranks must agree), then the logs closed."""
        digest = parameter_digest(self.genie)
        (self.run.stage_dir / "ranks").mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.run.stage_dir / "ranks" / f"rank{self.rank}.json",
                          json.dumps({"step": self.step, "parameters_sha256": digest}) + "\n")
        if self.writer:
            self.writer.close()
            self.metrics.close()
            done = "done" if self.step == self.opts.steps else "stopped at --stop-at (continue with --resume)"
            log.info(f"{self.opts.stage}: {self.step}/{self.opts.steps} steps {done} on {self.world} process(es); "
                     f"weights in {self.run.export}")


def train(opts: TrainOptions) -> None:
    """Run (or continue) one phase up to --steps or --stop-at, saving every --save-every steps."""
    from tqdm import tqdm

    session = StageRun(opts)
    if opts.resume:
        session.resume()
    session.open_outputs()
    rank0 = session.rank == 0
    stop = min(opts.steps, opts.stop_at or opts.steps)
    refit = opts.stage == "lam" and opts.refit_codebook > 0
    bar = tqdm(total=opts.steps, initial=session.step, desc=f"train {opts.stage}", disable=not rank0 or not opts.progress,
               dynamic_ncols=True)
    session.engine.train()
    last_time, last_step = time.perf_counter(), session.step
    while session.step < stop:
        terms, clip = session.step_once()
        step = session.step
        bar.update(1)
        if rank0 and (step % opts.log_every == 0 or step == opts.steps):
            now = time.perf_counter()
            clips = (step - last_step) * session.micro * session.accum * session.world
            frames_per_s = clips * session.frames / max(now - last_time, 1e-9)
            values = session.log(terms, frames_per_s)
            last_time, last_step = now, step
            shown = {k: f"{values[k]:.3g}" for k in ("loss", "psnr", "lam_moving_gain", "dynamics_acc", "lam_codes_used")
                     if k in values}
            bar.set_postfix({**shown, "frames/s": f"{frames_per_s:.0f}"}, refresh=False)
        if rank0 and opts.image_every and step % opts.image_every == 0 and not session.zero3:
            session.preview(clip[0])
        if (step % opts.save_every == 0 or step == stop) and not (refit and step == opts.steps):
            session.save()
    bar.close()
    if refit and session.step == opts.steps:  # also when resuming a finished phase: refit, then save
        fit = refit_lam_codebook(session.genie, session.batches, opts.refit_codebook, session.device)
        if rank0:
            log.info(f"lam: codebook refit by k-means on {opts.refit_codebook} clips per rank (mean cosine fit {fit:.3f})")
        session.save()
    session.finish()


def main(argv: list[str] | None = None) -> int:
    opts, level = parse_options(argv)
    configure_logging(level)
    from genie_robotics.core.allocator import keep_freed_memory

    keep_freed_memory()  # every step frees and re-allocates the same buffers (see allocator.py)
    try:
        train(opts)
    except (GenieError, OSError) as exc:  # OSError: a log or metrics write on a full or read-only disk
        if isinstance(exc, OSError):
            exc = GenieError(f"writing {exc.filename or opts.out} failed: {describe_write_error(exc, Path(opts.out))}")
        if os.environ.get("RANK", "0") == "0":  # every rank stops; one of them says why
            print(f"genie-robotics train: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
