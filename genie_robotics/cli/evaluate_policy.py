"""`genie-robotics evaluate-policy`: score pixel policies in MuJoCo and in the learned simulator."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from genie_robotics.core import options as flags
from genie_robotics.core.assets import SHIPPED_CHECKPOINT
from genie_robotics.core.errors import GenieError
from genie_robotics.policies.policy_eval import LADDER_BC, LADDER_NOISE, POLICY_EVAL_FILE, PolicyEvalResult, Setting

_NOISE = "/".join(f"{n:.0%}" for n in sorted(LADDER_NOISE, reverse=True)).replace("%", "%%")  # argparse escapes
_BC = "/".join("all" if n is None else str(n) for n in LADDER_BC)


@dataclass
class EvaluatePolicyOptions:
    """`genie-robotics evaluate-policy`'s options (each field is its flag)."""

    out: Path = flags.path_option(help=f"directory for {POLICY_EVAL_FILE}, policy_eval.png, policy_episodes.png and "
                                       "the trained detector")
    checkpoint: Path = flags.path_option(SHIPPED_CHECKPOINT, positional=True,
                                         help="checkpoint directory with a command_map.json (default: the shipped tiny)")
    ladder: bool = flags.option(False, help=f"evaluate the ladder: random, the detector servo with {_NOISE} random "
                                            f"commands, behaviour cloning on {_BC} demonstrated transitions")
    policy: list[Path] | None = flags.option(None, parse=Path, repeat=True, metavar="PATH",
                                      help="a saved pixel policy (PATH.safetensors + PATH.json, e.g. from "
                                           "TablePolicy.save); repeat the flag for several")
    episodes: int = flags.option(100, parse=flags.positive_int, help="evaluation episodes per policy and world")
    demonstrations: int = flags.option(200, parse=flags.positive_int,
                                       help="expert episodes rendered for the ladder's cloned policies")
    detector: Path | None = flags.path_option(None, help="a success detector saved by an earlier run "
                                                         "(OUT/detector); default: train one")
    quick: bool = flags.option(False, help="a tiny setting (minutes; what the tests run)")
    seed: int = flags.seed_option()
    progress: bool = flags.progress_option()


def evaluate_policy_command(opts: EvaluatePolicyOptions) -> PolicyEvalResult:
    from genie_robotics.policies.pixel_policy import TablePolicy
    from genie_robotics.policies.policy_eval import evaluate_policies
    from genie_robotics.policies.success_detector import SuccessDetector

    if opts.ladder == bool(opts.policy):
        raise GenieError("give either --ladder or at least one --policy PATH")
    setting = Setting.quick() if opts.quick else Setting(opts.episodes, opts.demonstrations)
    policies = [TablePolicy.load(path) for path in opts.policy or []] or None
    detector = SuccessDetector.load(opts.detector) if opts.detector else None
    return evaluate_policies(opts.checkpoint, policies, opts.out, setting, opts.seed, detector, opts.progress)


def format_result(result: PolicyEvalResult) -> str:
    width = max(len(p.name) for p in result.policies)
    lines = [f"{'policy':<{width}}  MuJoCo  learned sim  (MuJoCo state)"]
    lines += [f"{p.name:<{width}}  {p.mujoco_success:6.2f}  {p.simulator_success:11.2f}  ({p.mujoco_true_success:.2f})"
              for p in result.policies]
    lines.append(f"Spearman {result.spearman:.3f}, Pearson {result.pearson:.3f} over {len(result.policies)} policies, "
                 f"{result.episodes} episodes each; detector error {result.detector_error_px:.2f} px "
                 f"(success radius {result.success_radius_px:.1f} px)")
    return "\n".join(lines)
