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
        out=Path(args.out), tokenizer_steps=args.tokenizer_steps, dynamics_steps=args.dynamics_steps,
        maskgit_steps=args.maskgit_steps, temperature=args.temperature, seed=args.seed,
        progress=not args.no_progress,
    ))


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

    demo = sub.add_parser("demo", help="short end-to-end run of the tiny preset: train, save, roll out 8 latent actions")
    demo.add_argument("--out", default="outputs/demo", help="output directory (default outputs/demo)")
    demo.add_argument("--tokenizer-steps", type=int, default=100, help="tokenizer training steps (default 100)")
    demo.add_argument("--dynamics-steps", type=int, default=100, help="LAM + dynamics training steps (default 100)")
    demo.add_argument("--maskgit-steps", type=int, default=8, help="MaskGIT steps per generated frame (default 8)")
    demo.add_argument("--temperature", type=float, default=1.0,
                      help="MaskGIT sampling temperature (default 1.0; the paper's 2.0 suits a fully trained model)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except GenieError as exc:
        print(f"genie-robotics: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
