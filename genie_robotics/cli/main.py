"""`genie-robotics` command line."""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from genie_robotics.cli.arguments import OneLineParser, add_options, add_verbosity, configure_logging, options_from, verbosity
from genie_robotics.core.config import PRESETS
from genie_robotics.core.errors import GenieError
from genie_robotics.core.options import option, positive_int, progress_option
from genie_robotics.data.render_settings import RENDER_SETTINGS_FILE, RenderSettings


@dataclass
class InfoOptions:
    """`genie-robotics info`'s options."""

    preset: str = option("tiny", help=f"one of: {', '.join(PRESETS)}")
    config: Path | None = option(None, parse=Path, help="a YAML/JSON config file instead of a preset")
    json: bool = option(False, help="print one JSON object: tokenizer, lam, dynamics, total")


def _cmd_info(args: argparse.Namespace) -> None:
    from genie_robotics.core.config import GenieConfig, preset
    from genie_robotics.models.genie import count_parameters

    opts = options_from(InfoOptions, args)
    cfg = GenieConfig.load(opts.config) if opts.config else preset(opts.preset)
    counts = count_parameters(cfg)
    if opts.json:
        print(json.dumps(counts))
        return
    print(f"preset {cfg.name}: {cfg.height}x{cfg.width} frames, context {cfg.frames} frames at {cfg.fps} FPS")
    print(f"  tokens per frame {cfg.tokens_per_frame} ({cfg.token_grid[0]}x{cfg.token_grid[1]}), "
          f"codebook {cfg.tokenizer.quantizer.num_codes}x{cfg.tokenizer.quantizer.code_dim}, "
          f"latent actions {cfg.num_actions}x{cfg.lam.quantizer.code_dim}")
    for name in ("tokenizer", "lam", "dynamics", "total"):
        print(f"  {name:<10} {counts[name]:>15,} parameters")


def _cmd_demo(args: argparse.Namespace) -> None:
    from genie_robotics.cli.demo import DemoOptions, run_demo

    run_demo(options_from(DemoOptions, args))


@dataclass
class ExportOptions:
    """`genie-robotics export`'s options."""

    checkpoint: Path = option(parse=Path, positional=True, help="checkpoint directory (config.yaml + model.safetensors)")
    out: Path = option(parse=Path, help="directory for the ONNX graphs and their metadata")
    dynamic_batch: bool = option(False, help="symbolic batch dimension (batched rollouts) instead of static batch 1 "
                                             "(the ROS node's)")


def _cmd_export(args: argparse.Namespace) -> None:
    from genie_robotics.export.onnx_export import GRAPHS, export_onnx

    opts = options_from(ExportOptions, args)
    out = export_onnx(opts.checkpoint, opts.out, dynamic_batch=opts.dynamic_batch)
    print(f"wrote {', '.join(f'{name}.onnx' for name in GRAPHS)}, config.yaml and genie_onnx.json to {out}")


def _cmd_play(args: argparse.Namespace) -> None:
    from genie_robotics.cli.play import PlayOptions, play

    summary = play(options_from(PlayOptions, args))
    print(f"played {summary['steps']} steps on {summary['backend']} at {summary['frames_per_s']} frames/s"
          + (f"; recorded {summary['recorded_frames']} frames to {summary['record']}" if summary["record"] else ""))


def _cmd_eval(args: argparse.Namespace) -> None:
    from genie_robotics.analysis.evaluation import EvalOptions, evaluate
    from genie_robotics.cli.eval_table import format_table, write_json

    result = evaluate(options_from(EvalOptions, args))
    print(format_table(result))
    if args.json:
        print(f"wrote {write_json(result, args.json)}")


def _cmd_generate(args: argparse.Namespace) -> None:
    from genie_robotics.cli.generate import GenerateOptions, generate

    summary = generate(options_from(GenerateOptions, args))
    if args.json:
        print(summary.to_json(), end="")
    else:
        print(f"wrote {summary.episodes} episodes x {summary.steps} steps ({summary.policy} policy) to "
              f"{summary.out} at {summary.frames_per_s} frames/s"
              + (f"; mapped real actions from {summary.action_map.dataset}" if summary.action_map else ""))


def _cmd_fit_command_map(args: argparse.Namespace) -> None:
    from genie_robotics.cli.fit_command_map import FitCommandMapOptions, fit_command_map_command

    command_map, path = fit_command_map_command(options_from(FitCommandMapOptions, args))
    info = command_map.fitted_on
    heldout = (f"; agrees with the LAM on {info['heldout_agreement']:.1%} of {info['heldout_episodes']} held-out episodes"
               if info.get("heldout_agreement") is not None else "")
    print(f"fitted on {info['transitions']} transitions of {info['episodes']} episodes (agreement with the LAM "
          f"{info['train_agreement']:.1%}){heldout}; wrote {path}")


def _cmd_evaluate_policy(args: argparse.Namespace) -> None:
    from genie_robotics.cli.evaluate_policy import EvaluatePolicyOptions, evaluate_policy_command, format_result

    opts = options_from(EvaluatePolicyOptions, args)
    result = evaluate_policy_command(opts)
    print(format_result(result))
    print(f"wrote {opts.out / 'policy_eval.json'}, policy_eval.png and policy_episodes.png")


def _cmd_probe(args: argparse.Namespace) -> None:
    from genie_robotics.analysis.probe import ProbeOptions, probe

    report = probe(options_from(ProbeOptions, args))

    def fmt(values):
        return " ".join(f"{v:.2f}" if v is not None else "-" for v in values)

    print(f"probe of {report.model} on {report.transitions} transitions of {report.episodes} episodes")
    print(f"  code usage   {fmt(report.code_usage)}")
    print(f"  consistency  {fmt(report.consistency)}  (random directions ~{report.consistency_chance:.2f})")
    if report.nmi is not None:
        print(f"  NMI(codes, {report.action_target} clusters) {report.nmi:.3f}; linear probe accuracy "
              f"{report.linear_probe_accuracy:.3f} (chance {report.linear_probe_chance:.3f}), "
              f"R2 {report.linear_probe_r2:.3f}")
    if report.nmi_heading is not None:
        print(f"  NMI(codes, heading) {report.nmi_heading:.3f}")
    print(f"wrote {Path(args.out) / 'probe.json'}, {Path(args.out) / 'README.md'} and plots")


def _cmd_train(rest: list[str]) -> int:
    """Check the arguments, then train in this process or under the deepspeed launcher."""
    import os
    import subprocess

    from training.run_dir import acquire_lock
    from training.train import free_port, parse_options, validate
    from training.train import main as train_main

    targs, _ = parse_options(rest)
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


@dataclass
class EvalOutput:
    """Where `genie-robotics eval` writes beside its table."""

    json: Path | None = option(None, parse=Path, help="also write the result as JSON to this file")


@dataclass
class GenerateOutput:
    """How `genie-robotics generate` reports."""

    json: bool = option(False, help="print the summary as JSON")


@dataclass
class DataRenderOptions:
    """`genie-robotics data render`'s options besides its `RenderSettings`."""

    out: Path = option(parse=Path, help="dataset directory to create")
    overwrite: bool = option(False, help="replace an existing dataset at --out")
    progress: bool = progress_option()


def _cmd_data_render(args: argparse.Namespace) -> None:
    from genie_robotics.data.mujoco_render import render_dataset

    opts, settings = options_from(DataRenderOptions, args), options_from(RenderSettings, args)
    out = render_dataset(opts.out, settings, overwrite=opts.overwrite, progress=opts.progress)
    print(f"wrote {settings.episodes} episodes x {settings.steps} steps of {settings.scene} ({settings.policy} policy) "
          f"at {settings.size} to {out} (render arguments in {out / RENDER_SETTINGS_FILE})")


@dataclass
class DataInspectOptions:
    """`genie-robotics data inspect`'s options."""

    dir: str = option(positional=True, help="dataset directory (e.g. a local fractal20220817_data/0.1.0)")
    image_key: str | None = option(None, help="camera key (default: chosen from the Open X-Embodiment key table)")
    limit: int | None = option(None, parse=positive_int, help="count steps over the first N episodes only")
    json: bool = option(False, help="print one JSON object")
    sheet: Path | None = option(None, parse=Path, help="write a contact sheet PNG of frames from the first episodes")


def _cmd_data_inspect(args: argparse.Namespace) -> None:
    from genie_robotics.core.images import save_png
    from genie_robotics.data.inspect import contact_sheet, format_summary, summarize
    from genie_robotics.data.rlds_reader import open_rlds

    opts = options_from(DataInspectOptions, args)
    info = summarize(opts.dir, image_key=opts.image_key, limit=opts.limit, progress=not opts.json)
    if opts.sheet:
        save_png(contact_sheet(open_rlds(opts.dir, image_key=opts.image_key)), opts.sheet)
        info["sheet"] = str(opts.sheet)
    print(json.dumps(info, indent=2) if opts.json else format_summary(info) + (f"\n  contact sheet: {opts.sheet}" if opts.sheet else ""))


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="genie-robotics",
        description="Genie world model for robot video: train, inspect and roll out a learned simulator.",
    )
    add_verbosity(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="parameter counts of a preset (built on the meta device, nothing allocated)")
    add_options(info, InfoOptions)
    info.set_defaults(func=_cmd_info)

    from genie_robotics.analysis.evaluation import EvalOptions
    from genie_robotics.analysis.probe import ProbeOptions
    from genie_robotics.cli.demo import DemoOptions
    from genie_robotics.cli.evaluate_policy import EvaluatePolicyOptions
    from genie_robotics.cli.fit_command_map import FitCommandMapOptions
    from genie_robotics.cli.generate import GenerateOptions
    from genie_robotics.cli.play import PlayOptions

    commands = (
        ("demo", DemoOptions, _cmd_demo,
         "the shipped tiny checkpoint as a simulator in ROS 2: export to ONNX, start the genie_sim node, drive it "
         "through all 8 latent actions from a rendered MuJoCo frame"),
        ("play", PlayOptions, _cmd_play,
         "play the simulator: an OpenCV window (keys 1-8 act, r reset, q quit), or headless with an action script, "
         "recording a GIF/MP4"),
        ("eval", EvalOptions, _cmd_eval,
         "held-out metrics: tokenizer PSNR/SSIM, ΔtPSNR at t=4, rollout PSNR over t beside the still-frame baseline, "
         "on whole frames and the moving region, FVD with a user-supplied TorchScript I3D"),
        ("probe", ProbeOptions, _cmd_probe,
         "report on the latent action space: code usage, per-action motion consistency (optical flow), NMI and a "
         "linear probe against true actions; JSON, plots, Markdown"),
        ("fit-command-map", FitCommandMapOptions, _cmd_fit_command_map,
         "fit the map from robot commands (end-effector displacement, action/world_vector) to latent actions on a "
         "few labelled episodes; stored beside the weights as command_map.json"),
        ("generate", GenerateOptions, _cmd_generate,
         "synthetic trajectories from the simulator under a latent-action policy, written as an RLDS dataset "
         "(for policy pre-training)"),
        ("evaluate-policy", EvaluatePolicyOptions, _cmd_evaluate_policy,
         "run pixel policies closed-loop in MuJoCo and in the learned simulator (commands through the command map), "
         "score both from their frames with a success detector, and report how well the simulator ranks them"),
    )
    for name, options_cls, func, help_text in commands:
        command = sub.add_parser(name, help=help_text)
        add_options(command, options_cls)
        command.set_defaults(func=func)
    add_options(sub.choices["eval"], EvalOutput)
    add_options(sub.choices["generate"], GenerateOutput)

    train = sub.add_parser("train", add_help=False, help="train one phase (tokenizer, then lam, then dynamics) with "
                                                         "DeepSpeed; see `genie-robotics train --help`")
    train.add_argument("rest", nargs=argparse.REMAINDER)  # parsed by training/train.py (see main)

    export = sub.add_parser("export", help="export a checkpoint as ONNX graphs (encoder, dynamics step with KV cache, decoder step)")
    add_options(export, ExportOptions)
    export.set_defaults(func=_cmd_export)

    data = sub.add_parser("data", help="robot video datasets (RLDS): render with MuJoCo, inspect")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    render = data_sub.add_parser("render", help="render MuJoCo robot-arm episodes into an RLDS dataset (RT-1 step layout)",
                                 description="Render MuJoCo robot-arm episodes into an RLDS dataset. The render "
                                             "settings are also written to DIR/data.json, whose keys are these flags' names.")
    add_options(render, DataRenderOptions)
    add_options(render, RenderSettings)
    render.set_defaults(func=_cmd_data_render)

    inspect = data_sub.add_parser("inspect", help="episodes, steps, features and camera of an RLDS dataset directory")
    add_options(inspect, DataInspectOptions)
    inspect.set_defaults(func=_cmd_data_inspect)
    return parser


VERBOSITY_FLAGS = ("-q", "--quiet", "-v", "--verbose")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        flags = list(itertools.takewhile(lambda a: a in VERBOSITY_FLAGS, argv))
        if argv[len(flags):len(flags) + 1] == ["train"]:  # its options belong to training/train.py's parser
            return _cmd_train([*argv[len(flags) + 1:], *flags])
        from genie_robotics.core.allocator import keep_freed_memory

        keep_freed_memory()  # rollouts: up to 1.6x faster on CPU (bench/allocator.py)
        args = build_parser().parse_args(argv)
        configure_logging(verbosity(args))
        return args.func(args) or 0
    except GenieError as exc:
        print(f"genie-robotics: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
