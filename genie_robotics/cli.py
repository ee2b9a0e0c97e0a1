"""`genie-robotics` command line."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from genie_robotics.arguments import (
    OneLineParser,
    maskgit_steps,
    nonnegative_int,
    positive_float,
    positive_int,
    probability,
    temperature,
)
from genie_robotics.errors import GenieError


def _cmd_info(args: argparse.Namespace) -> None:
    from genie_robotics.config import GenieConfig, preset
    from genie_robotics.models.genie import count_parameters

    cfg = GenieConfig.load(args.config) if args.config else preset(args.preset)
    counts = count_parameters(cfg)
    if args.json:
        print(json.dumps(counts))
        return
    print(f"preset {cfg.name}: {cfg.height}x{cfg.width} frames, context {cfg.frames} frames at {cfg.fps} FPS")
    print(f"  tokens per frame {cfg.tokens_per_frame} ({cfg.token_grid[0]}x{cfg.token_grid[1]}), "
          f"codebook {cfg.tokenizer.quantizer.num_codes}x{cfg.tokenizer.quantizer.code_dim}, "
          f"latent actions {cfg.num_actions}x{cfg.lam.quantizer.code_dim}")
    for name in ("tokenizer", "lam", "dynamics", "total"):
        print(f"  {name:<10} {counts[name]:>15,} parameters")


def _cmd_demo(args: argparse.Namespace) -> None:
    from genie_robotics.demo import DemoOptions, run_demo

    run_demo(DemoOptions(
        checkpoint=Path(args.checkpoint), out=Path(args.out), data_root=Path(args.data_root),
        rollout_steps=args.rollout_steps, maskgit_steps=args.maskgit_steps, temperature=args.temperature,
        seed=args.seed, progress=not args.no_progress, in_process=args.in_process, timeout=args.timeout,
    ))


def _cmd_export(args: argparse.Namespace) -> None:
    from genie_robotics.export.onnx_export import export_onnx

    out = export_onnx(args.checkpoint, args.out, dynamic_batch=args.dynamic_batch)
    print(f"wrote encoder.onnx, dynamics_step.onnx, decoder_step.onnx, config.yaml and genie_onnx.json to {out}")


def _cmd_play(args: argparse.Namespace) -> None:
    from genie_robotics.play import PlayOptions, parse_script, play

    summary = play(PlayOptions(
        model=Path(args.model), prompt=Path(args.prompt) if args.prompt else None,
        actions=parse_script(args.actions) if args.actions is not None else None,
        record=Path(args.record) if args.record else None, backend=args.backend, maskgit_steps=args.maskgit_steps,
        temperature=args.temperature, seed=args.seed, scale=args.scale,
    ))
    print(f"played {summary['steps']} steps on {summary['backend']} at {summary['frames_per_s']} frames/s"
          + (f"; recorded {summary['recorded_frames']} frames to {summary['record']}" if summary["record"] else ""))


def _cmd_eval(args: argparse.Namespace) -> None:
    from genie_robotics.evaluation import EvalOptions, evaluate, format_table, write_json

    result = evaluate(EvalOptions(
        model=Path(args.model), data=args.data, episodes=args.episodes, horizon=args.horizon, part=args.part,
        maskgit_steps=args.maskgit_steps, temperature=args.temperature, seed=args.seed, batch=args.batch,
        i3d=Path(args.i3d) if args.i3d else None, device=args.device, progress=not args.no_progress,
    ))
    print(format_table(result))
    if args.json:
        print(f"wrote {write_json(result, args.json)}")


def _cmd_generate(args: argparse.Namespace) -> None:
    from genie_robotics.generate import GenerateOptions, generate
    from genie_robotics.play import parse_script

    script = None
    if args.script is not None:
        script = parse_script(args.script)
        if "r" in script:
            raise GenieError("--script takes latent actions 0-7 only (no r)")
    summary = generate(GenerateOptions(
        model=args.model, prompts=args.prompts, out=args.out, episodes=args.episodes, steps=args.steps,
        policy=args.policy, script=script, stick_probability=args.stick_probability, overwrite=args.overwrite,
        action_map=args.action_map, action_map_episodes=args.action_map_episodes, batch=args.batch,
        maskgit_steps=args.maskgit_steps, temperature=args.temperature, seed=args.seed, device=args.device,
        progress=not args.no_progress,
    ))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrote {summary['episodes']} episodes x {summary['steps']} steps ({summary['policy']} policy) to "
              f"{summary['out']} at {summary['frames_per_s']} frames/s"
              + (f"; mapped real actions from {summary['action_map']['dataset']}" if summary["action_map"] else ""))


def _cmd_probe(args: argparse.Namespace) -> None:
    from genie_robotics.probe import ProbeOptions, probe

    report = probe(ProbeOptions(
        model=args.model, data=args.data, out=args.out, episodes=args.episodes, start_frames=args.start_frames,
        rollout_steps=args.rollout_steps, maskgit_steps=args.maskgit_steps, temperature=args.temperature,
        clusters=args.clusters, seed=args.seed, device=args.device, overwrite=args.overwrite,
        progress=not args.no_progress,
    ))

    def fmt(values):
        return " ".join(f"{v:.2f}" if v is not None else "-" for v in values)

    print(f"probe of {report['model']} on {report['transitions']} transitions of {report['episodes']} episodes")
    print(f"  code usage   {fmt(report['code_usage'])}")
    print(f"  consistency  {fmt(report['consistency'])}  (random directions ~{report['consistency_chance']:.2f})")
    if report["nmi"] is not None:
        print(f"  NMI(codes, {report['action_target']} clusters) {report['nmi']:.3f}; linear probe accuracy "
              f"{report['linear_probe_accuracy']:.3f} (chance {report['linear_probe_chance']:.3f}), "
              f"R2 {report['linear_probe_r2']:.3f}")
    if report["nmi_heading"] is not None:
        print(f"  NMI(codes, heading) {report['nmi_heading']:.3f}")
    print(f"wrote {Path(args.out) / 'probe.json'}, {Path(args.out) / 'README.md'} and plots")


def _cmd_train(rest: list[str]) -> int:
    """Check the arguments, then train in this process or under the deepspeed launcher."""
    import os
    import subprocess

    from training.run_dir import acquire_lock
    from training.train import build_parser as train_parser
    from training.train import free_port, validate
    from training.train import main as train_main

    targs = train_parser().parse_args(rest)
    validate(targs)
    lock = acquire_lock(Path(targs.out))  # held until training ends, by this process
    try:
        # JIT-built DeepSpeed ops (the CPU shared-memory collective) are cached inside the venv.
        os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(Path(sys.prefix) / "torch_extensions"))
        if targs.num_procs == 1 and not targs.hostfile:
            return train_main(rest)
        launcher = [str(Path(sys.executable).parent / "deepspeed"), "--master_port", str(free_port())]
        launcher += ["--hostfile", targs.hostfile] if targs.hostfile else ["--num_gpus", str(targs.num_procs)]
        return subprocess.run([*launcher, "--module", "training.train", *rest]).returncode
    finally:
        lock.close()


MAX_RENDER_SIDE = 1024  # MuJoCo's offscreen buffer is sized for the largest frame we render


def _size(text: str) -> tuple[int, int]:
    """'HxW' -> (H, W), each side in [8, MAX_RENDER_SIDE]."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like HEIGHTxWIDTH (e.g. 64x64), got {text!r}") from None
    if not (8 <= h <= MAX_RENDER_SIDE and 8 <= w <= MAX_RENDER_SIDE):
        raise argparse.ArgumentTypeError(f"each side of --size must be in [8, {MAX_RENDER_SIDE}], got {text}")
    return h, w


def _cmd_data_render(args: argparse.Namespace) -> None:
    from genie_robotics.data.mujoco_render import render_dataset

    out = render_dataset(args.out, args.episodes, args.steps, args.size[0], args.size[1], args.seed, args.scene,
                         overwrite=args.overwrite, progress=not args.no_progress, policy=args.policy)
    print(f"wrote {args.episodes} episodes x {args.steps} steps of {args.scene} ({args.policy} policy) at "
          f"{args.size[0]}x{args.size[1]} to {out} (render arguments in {out / 'data.json'})")


def _cmd_data_inspect(args: argparse.Namespace) -> None:
    from genie_robotics.data.inspect import contact_sheet, format_summary, summarize
    from genie_robotics.data.rlds_reader import open_rlds
    from genie_robotics.viz import save_png

    info = summarize(args.dir, image_key=args.image_key, limit=args.limit, progress=not args.json)
    if args.sheet:
        save_png(contact_sheet(open_rlds(args.dir, image_key=args.image_key)), args.sheet)
        info["sheet"] = str(args.sheet)
    print(json.dumps(info, indent=2) if args.json else format_summary(info) + (f"\n  contact sheet: {args.sheet}" if args.sheet else ""))


# Sampling settings live in the checkpoint's config (the values measured best); flags override.
CHECKPOINTS = "(default: the checkpoint's value)"


def build_parser() -> argparse.ArgumentParser:
    from genie_robotics.config import PRESETS

    parser = OneLineParser(
        prog="genie-robotics",
        description="Genie world model for robot video: train, inspect and roll out a learned simulator.",
    )
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    noise.add_argument("-v", "--verbose", action="store_true", help="debug messages too")
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="parameter counts of a preset (built on the meta device, nothing allocated)")
    info.add_argument("--preset", default="tiny", help=f"one of: {', '.join(PRESETS)} (default tiny)")
    info.add_argument("--config", help="a YAML/JSON config file instead of a preset")
    info.add_argument("--json", action="store_true", help="print one JSON object: tokenizer, lam, dynamics, total")
    info.set_defaults(func=_cmd_info)

    from genie_robotics.assets import SHIPPED_CHECKPOINT

    demo = sub.add_parser("demo", help="the shipped tiny checkpoint as a simulator in ROS 2: export to ONNX, start the "
                                       "genie_sim node, drive it through all 8 latent actions from a rendered MuJoCo frame")
    demo.add_argument("--checkpoint", default=str(SHIPPED_CHECKPOINT), help="checkpoint directory (default: the shipped tiny one)")
    demo.add_argument("--out", default="outputs/demo", help="output directory (default outputs/demo)")
    demo.add_argument("--data-root", default="outputs/data", help="where rendered prompt episodes are cached (default outputs/data)")
    demo.add_argument("--rollout-steps", type=positive_int, default=8, help="frames generated per action (default 8)")
    demo.add_argument("--maskgit-steps", type=maskgit_steps, help=f"MaskGIT steps per frame {CHECKPOINTS}")
    demo.add_argument("--temperature", type=temperature, help=f"MaskGIT sampling temperature {CHECKPOINTS}")
    demo.add_argument("--seed", type=nonnegative_int, default=0)
    demo.add_argument("--in-process", action="store_true",
                      help="roll out all actions as one PyTorch batch in this process, without ROS or ONNX")
    demo.add_argument("--timeout", type=positive_float, default=180.0,
                      help="seconds to wait for the node to come up and for any one frame (default 180)")
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    demo.set_defaults(func=_cmd_demo)

    train = sub.add_parser("train", add_help=False, help="train one phase (tokenizer, then dynamics) with DeepSpeed; "
                                                         "see `genie-robotics train --help`")
    train.add_argument("rest", nargs=argparse.REMAINDER)  # parsed by training/train.py (see main)

    from genie_robotics.play import PlayOptions

    play = sub.add_parser("play", help="play the simulator: an OpenCV window (keys 1-8 act, r reset, q quit), or "
                                       "headless with an action script, recording a GIF/MP4")
    play.add_argument("model", help="checkpoint directory or ONNX export directory")
    play.add_argument("--prompt", help="prompt image file (default: a held-out rendered MuJoCo frame)")
    play.add_argument("--actions", help="headless: comma-separated latent actions 0-7, r = reset (e.g. 0,0,3,3,r,5)")
    play.add_argument("--record", help="write what is shown to out.gif, out.mp4 or out.avi")
    play.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx"],
                      help="auto: ONNX Runtime for an export directory, PyTorch for a checkpoint")
    play.add_argument("--maskgit-steps", type=maskgit_steps, help=f"MaskGIT steps per frame {CHECKPOINTS}")
    play.add_argument("--temperature", type=temperature, help=f"MaskGIT sampling temperature {CHECKPOINTS}")
    play.add_argument("--seed", type=nonnegative_int, default=0)
    play.add_argument("--scale", type=positive_int, default=PlayOptions.scale, help="upscale factor of the shown frames")
    play.set_defaults(func=_cmd_play)

    ev = sub.add_parser("eval", help="held-out metrics: tokenizer PSNR/SSIM, ΔtPSNR at t=4, rollout PSNR over t "
                                     "beside the still-frame baseline, on whole frames and the moving region, "
                                     "FVD with a user-supplied TorchScript I3D")
    ev.add_argument("model", help="checkpoint directory")
    ev.add_argument("--data", required=True, action="append", help="held-out RLDS dataset directory (repeatable)")
    ev.add_argument("--episodes", type=positive_int, default=32, help="episodes to evaluate, one clip each (default 32)")
    ev.add_argument("--horizon", type=positive_int, default=8, help="generated frames per rollout, >= 4 (default 8)")
    ev.add_argument("--part", default="all", choices=["all", "validation", "train"],
                    help="episodes to use: all (a held-out dataset, default) or the validation part training held out")
    ev.add_argument("--maskgit-steps", type=maskgit_steps, help=f"MaskGIT steps per frame {CHECKPOINTS}")
    ev.add_argument("--temperature", type=temperature,
                    help=f"MaskGIT temperature {CHECKPOINTS}; ΔtPSNR is also reported at the paper's 2")
    ev.add_argument("--seed", type=nonnegative_int, default=0)
    ev.add_argument("--batch", type=positive_int, default=8, help="rollouts generated together")
    ev.add_argument("--i3d", help="TorchScript I3D file (features [B, F] from videos [B, 3, T, 224, 224] in [-1, 1]) for FVD")
    ev.add_argument("--device", default="cpu")
    ev.add_argument("--json", help="also write the result as JSON to this file")
    ev.add_argument("--no-progress", action="store_true")
    ev.set_defaults(func=_cmd_eval)

    from genie_robotics.probe import ProbeOptions

    pr = sub.add_parser("probe", help="report on the latent action space: code usage, per-action motion consistency "
                                      "(optical flow), NMI and a linear probe against true actions; JSON, plots, Markdown")
    pr.add_argument("model", help="checkpoint directory")
    pr.add_argument("--data", required=True, help="RLDS dataset directory (true actions, if it has them, are compared)")
    pr.add_argument("--out", required=True, help="report directory (probe.json, README.md, PNG plots, GIF grid)")
    pr.add_argument("--episodes", type=positive_int, default=ProbeOptions.episodes, help="episodes read for usage / true actions")
    pr.add_argument("--start-frames", type=positive_int, default=ProbeOptions.start_frames,
                    help="start frames of the consistency rollouts (rows of the grid)")
    pr.add_argument("--rollout-steps", type=positive_int, default=ProbeOptions.rollout_steps)
    pr.add_argument("--maskgit-steps", type=maskgit_steps, help=f"MaskGIT steps per frame {CHECKPOINTS}")
    pr.add_argument("--temperature", type=temperature, help=f"MaskGIT sampling temperature {CHECKPOINTS}")
    pr.add_argument("--clusters", type=positive_int, default=ProbeOptions.clusters, help="k-means clusters of true actions")
    pr.add_argument("--seed", type=nonnegative_int, default=0)
    pr.add_argument("--device", default="cpu")
    pr.add_argument("--overwrite", action="store_true", help="replace an existing report at --out")
    pr.add_argument("--no-progress", action="store_true")
    pr.set_defaults(func=_cmd_probe)

    from genie_robotics.generate import POLICIES, GenerateOptions

    gen = sub.add_parser("generate", help="synthetic trajectories from the simulator under a latent-action policy, "
                                          "written as an RLDS dataset (for policy pre-training)")
    gen.add_argument("model", help="checkpoint directory")
    gen.add_argument("--prompts", required=True, help="prompt frames: a folder of PNG/JPEG files, one image, or an RLDS "
                                                      "dataset (first frame of each episode)")
    gen.add_argument("--out", required=True, help="RLDS dataset directory to write")
    gen.add_argument("--episodes", type=positive_int, default=GenerateOptions.episodes)
    gen.add_argument("--steps", type=positive_int, default=GenerateOptions.steps, help="frames per episode, prompt included")
    gen.add_argument("--policy", default="uniform", choices=POLICIES)
    gen.add_argument("--script", help="actions of the script policy, cycled (e.g. 0,0,3,3,5)")
    gen.add_argument("--stick-probability", type=probability, default=GenerateOptions.stick_probability,
                     help="sticky policy: probability of repeating the previous action")
    gen.add_argument("--action-map", help="labelled RLDS dataset with true actions: fit latent -> real action and write "
                                          "the mapped real action into every step")
    gen.add_argument("--action-map-episodes", type=positive_int, default=GenerateOptions.action_map_episodes,
                     help="episodes of the labelled dataset used to fit the map")
    gen.add_argument("--batch", type=positive_int, default=GenerateOptions.batch, help="episodes generated together")
    gen.add_argument("--maskgit-steps", type=maskgit_steps, help=f"MaskGIT steps per frame {CHECKPOINTS}")
    gen.add_argument("--temperature", type=temperature, help=f"MaskGIT sampling temperature {CHECKPOINTS}")
    gen.add_argument("--seed", type=nonnegative_int, default=0)
    gen.add_argument("--device", default="cpu", help="cpu or cuda")
    gen.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
    gen.add_argument("--json", action="store_true", help="print the summary as JSON")
    gen.add_argument("--no-progress", action="store_true")
    gen.set_defaults(func=_cmd_generate)

    export = sub.add_parser("export", help="export a checkpoint as ONNX graphs (encoder, dynamics step with KV cache, decoder step)")
    export.add_argument("checkpoint", help="checkpoint directory (config.yaml + model.safetensors)")
    export.add_argument("--out", required=True, help="directory for the ONNX graphs and their metadata")
    export.add_argument("--dynamic-batch", action="store_true",
                        help="symbolic batch dimension (batched rollouts) instead of static batch 1 (the ROS node's)")
    export.set_defaults(func=_cmd_export)

    data = sub.add_parser("data", help="robot video datasets (RLDS): render with MuJoCo, inspect")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    from genie_robotics.data.mujoco_render import POLICIES, SCENES

    render = data_sub.add_parser("render", help="render MuJoCo robot-arm episodes into an RLDS dataset (RT-1 step layout)",
                                 description="Render MuJoCo robot-arm episodes into an RLDS dataset. The arguments are "
                                             "also written to DIR/data.json, whose keys are these flags' names.")
    render.add_argument("--out", required=True, help="dataset directory to create")
    render.add_argument("--episodes", type=positive_int, default=64)
    render.add_argument("--steps", type=positive_int, default=32, help="frames per episode, at 10 FPS (default 32)")
    render.add_argument("--size", type=_size, default=(64, 64), help="HEIGHTxWIDTH (default 64x64; RT-1 is 256x320)")
    render.add_argument("--seed", type=nonnegative_int, default=0)
    render.add_argument("--scene", default="manipulator-ball", choices=sorted(SCENES))
    render.add_argument("--policy", default="teleop", choices=POLICIES,
                        help="teleop: the gripper moves along one of 8 image-plane headings held 1-4 frames "
                             "(stores action/world_vector and action/heading; default); torque: smooth random "
                             "joint torques through the physics (stores action/joint_torque)")
    render.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
    render.add_argument("--no-progress", action="store_true")
    render.set_defaults(func=_cmd_data_render)

    inspect = data_sub.add_parser("inspect", help="episodes, steps, features and camera of an RLDS dataset directory")
    inspect.add_argument("dir", help="dataset directory (e.g. a local fractal20220817_data/0.1.0)")
    inspect.add_argument("--image-key", help="camera key (default: chosen from the Open X-Embodiment key table)")
    inspect.add_argument("--limit", type=positive_int, help="count steps over the first N episodes only")
    inspect.add_argument("--json", action="store_true", help="print one JSON object")
    inspect.add_argument("--sheet", help="write a contact sheet PNG of frames from the first episodes")
    inspect.set_defaults(func=_cmd_data_inspect)
    return parser


def configure_logging(level: int) -> None:
    """The package's progress messages on stdout as `[module] message`; libraries log, the CLI shows."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[%(module)s] %(message)s"))
    package = logging.getLogger("genie_robotics")
    package.handlers[:] = [handler]
    package.setLevel(level)
    package.propagate = False


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["train"]:  # its options belong to training/train.py's parser
            return _cmd_train(argv[1:])
        from genie_robotics.allocator import keep_freed_memory

        keep_freed_memory()  # rollouts: up to 1.6x faster on CPU (bench/allocator.py)
        args = build_parser().parse_args(argv)
        configure_logging(logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO)
        return args.func(args) or 0
    except GenieError as exc:
        print(f"genie-robotics: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
