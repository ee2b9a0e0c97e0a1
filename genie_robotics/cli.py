"""`genie-robotics` command line."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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
        seed=args.seed, progress=not args.no_progress,
    ))


def _cmd_export(args: argparse.Namespace) -> None:
    from genie_robotics.export.onnx_export import export_onnx

    out = export_onnx(args.checkpoint, args.out)
    print(f"wrote encoder.onnx, dynamics_step.onnx, decoder_step.onnx, config.yaml and genie_onnx.json to {out}")


def _cmd_train(rest: list[str]) -> int:
    """Check the arguments, then train in this process or under the deepspeed launcher."""
    import os
    import subprocess

    from training.train import build_parser as train_parser
    from training.train import free_port
    from training.train import main as train_main
    from training.train import validate

    targs = train_parser().parse_args(rest)
    validate(targs)
    # JIT-built DeepSpeed ops (the CPU shared-memory collective) are cached inside the venv.
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(Path(sys.prefix) / "torch_extensions"))
    if targs.num_procs == 1 and not targs.hostfile:
        return train_main(rest)
    launcher = [str(Path(sys.executable).parent / "deepspeed"), "--master_port", str(free_port())]
    launcher += ["--hostfile", targs.hostfile] if targs.hostfile else ["--num_gpus", str(targs.num_procs)]
    return subprocess.run([*launcher, "--module", "training.train", *rest]).returncode


def _size(text: str) -> tuple[int, int]:
    """'HxW' -> (H, W)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like HEIGHTxWIDTH (e.g. 64x64), got {text!r}") from None
    return h, w


def _cmd_data_render(args: argparse.Namespace) -> None:
    from genie_robotics.data.mujoco_render import render_dataset

    out = render_dataset(args.out, args.episodes, args.steps, args.size[0], args.size[1], args.seed, args.scene,
                         overwrite=args.overwrite, progress=not args.no_progress)
    print(f"wrote {args.episodes} episodes x {args.steps} steps of {args.scene} at {args.size[0]}x{args.size[1]} to {out}")


def _cmd_data_inspect(args: argparse.Namespace) -> None:
    from genie_robotics.data.inspect import contact_sheet, format_summary, summarize
    from genie_robotics.data.rlds_reader import open_rlds
    from genie_robotics.viz import save_png

    info = summarize(args.dir, image_key=args.image_key, limit=args.limit, progress=not args.json)
    if args.sheet:
        save_png(contact_sheet(open_rlds(args.dir, image_key=args.image_key)), args.sheet)
        info["sheet"] = str(args.sheet)
    print(json.dumps(info, indent=2) if args.json else format_summary(info) + (f"\n  contact sheet: {args.sheet}" if args.sheet else ""))


def build_parser() -> argparse.ArgumentParser:
    from genie_robotics.config import PRESETS

    parser = argparse.ArgumentParser(
        prog="genie-robotics",
        description="Genie world model for robot video: train, inspect and roll out a learned simulator.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="parameter counts of a preset (built on the meta device, nothing allocated)")
    info.add_argument("--preset", default="tiny", help=f"one of: {', '.join(PRESETS)} (default tiny)")
    info.add_argument("--config", help="a YAML/JSON config file instead of a preset")
    info.add_argument("--json", action="store_true", help="print one JSON object: tokenizer, lam, dynamics, total")
    info.set_defaults(func=_cmd_info)

    from genie_robotics.demo import SHIPPED_CHECKPOINT

    demo = sub.add_parser("demo", help="the shipped tiny checkpoint as a simulator: roll out all 8 latent actions "
                                       "from a rendered MuJoCo frame")
    demo.add_argument("--checkpoint", default=str(SHIPPED_CHECKPOINT), help="checkpoint directory (default: the shipped tiny one)")
    demo.add_argument("--out", default="outputs/demo", help="output directory (default outputs/demo)")
    demo.add_argument("--data-root", default="outputs/data", help="where rendered prompt episodes are cached (default outputs/data)")
    demo.add_argument("--rollout-steps", type=int, default=8, help="frames generated per action (default 8)")
    demo.add_argument("--maskgit-steps", type=int, default=25, help="MaskGIT steps per frame (default 25, as in the paper)")
    demo.add_argument("--temperature", type=float, default=1.0,
                      help="MaskGIT sampling temperature (default 1; the paper's 2 suits a fully trained model)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    demo.set_defaults(func=_cmd_demo)

    train = sub.add_parser("train", add_help=False, help="train one phase (tokenizer, then dynamics) with DeepSpeed; "
                                                         "see `genie-robotics train --help`")
    train.add_argument("rest", nargs=argparse.REMAINDER)  # parsed by training/train.py (see main)

    export = sub.add_parser("export", help="export a checkpoint as ONNX graphs (encoder, dynamics step with KV cache, decoder step)")
    export.add_argument("checkpoint", help="checkpoint directory (config.yaml + model.safetensors)")
    export.add_argument("--out", required=True, help="directory for the ONNX graphs and their metadata")
    export.set_defaults(func=_cmd_export)

    data = sub.add_parser("data", help="robot video datasets (RLDS): render with MuJoCo, inspect")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    from genie_robotics.data.mujoco_render import SCENES

    render = data_sub.add_parser("render", help="render MuJoCo robot-arm episodes into an RLDS dataset (RT-1 step layout)")
    render.add_argument("--out", required=True, help="dataset directory to create")
    render.add_argument("--episodes", type=int, default=64)
    render.add_argument("--steps", type=int, default=32, help="frames per episode, at 10 FPS (default 32)")
    render.add_argument("--size", type=_size, default=(64, 64), help="HEIGHTxWIDTH (default 64x64; RT-1 is 256x320)")
    render.add_argument("--seed", type=int, default=0)
    render.add_argument("--scene", default="manipulator-ball", choices=sorted(SCENES))
    render.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
    render.add_argument("--no-progress", action="store_true")
    render.set_defaults(func=_cmd_data_render)

    inspect = data_sub.add_parser("inspect", help="episodes, steps, features and camera of an RLDS dataset directory")
    inspect.add_argument("dir", help="dataset directory (e.g. a local fractal20220817_data/0.1.0)")
    inspect.add_argument("--image-key", help="camera key (default: chosen from the Open X-Embodiment key table)")
    inspect.add_argument("--limit", type=int, help="count steps over the first N episodes only")
    inspect.add_argument("--json", action="store_true", help="print one JSON object")
    inspect.add_argument("--sheet", help="write a contact sheet PNG of frames from the first episodes")
    inspect.set_defaults(func=_cmd_data_inspect)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["train"]:  # its options belong to training/train.py's parser
            return _cmd_train(argv[1:])
        args = build_parser().parse_args(argv)
        return args.func(args) or 0
    except GenieError as exc:
        print(f"genie-robotics: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
