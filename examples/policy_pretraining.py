"""Pre-train a pixel policy from action-free video (Genie §3.3, LAPA), in the robot's command space.

The reach task (bring the gripper within 5 cm of the target in 25 steps) in the MuJoCo scene the
shipped `tiny` model learned from. Commands are end-effector displacements per frame
(`world_vector`), as teleop data and RT-1 record them; policies see 64x64 frames. From 200 expert
episodes (5,000 transitions) whose commands are hidden except for 200 (8 whole episodes):

- `bc_200`: behaviour cloning on the 200 labelled transitions;
- `bc_oracle_all`: behaviour cloning on all 5,000 true commands (the oracle);
- `latent_policy_200`: the frozen LAM labels all 5,000 transitions with latent actions, a policy
  learns to predict them from the frame, and each latent action means the mean command of its
  labelled transitions among the 200;
- `synthetic_pretrain_200`: the learned simulator regenerates every expert episode from its first
  frame, driven by the LAM's latent actions of that episode; each generated transition is labelled
  with its latent action's command (the map from the 200); a policy is pre-trained on those 5,000
  generated transitions and fine-tuned on the 200;
- `random` and `expert` (the scripted expert, from MuJoCo's state) bracket them.

Every row is the mean over 3 draws (the labelled episodes and the training seed; `random`: its
seed; the latent policy's network is trained once, its table per draw) with the spread; every
policy is scored in MuJoCo on the same 100 evaluation episodes.

    .venv/bin/python examples/policy_pretraining.py --out DIR   # full setting, DIR/policy_pretraining.json
    .venv/bin/python examples/policy_pretraining.py --quick     # a tiny setting (the test suite's)

Progress goes to stderr; the JSON also goes to stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from genie_robotics.analysis.action_statistics import per_code_means
from genie_robotics.analysis.latent_labels import LatentLabeller
from genie_robotics.core.assets import SHIPPED_CHECKPOINT
from genie_robotics.core.atomic_files import atomic_write_text
from genie_robotics.policies.closed_loop import run_in_mujoco
from genie_robotics.policies.expert_data import (
    Demonstrations,
    behaviour_cloning,
    collect_demonstrations,
    train_steps,
)
from genie_robotics.policies.pixel_net import fit_pixel_net
from genie_robotics.policies.pixel_policy import ExpertPolicy, Policy, RandomPolicy, TablePolicy
from genie_robotics.policies.policy_eval import checkpoint_sha256
from genie_robotics.policies.reach_task import EPISODE_STEPS, NUM_COMMANDS, SUCCESS_RADIUS, ReachTask, command_classes
from genie_robotics.sim.world_model import WorldModel

RESULT_FILE = "policy_pretraining.json"
ROWS = ("random", "expert", "bc_200", "bc_oracle_all", "latent_policy_200", "synthetic_pretrain_200")


@dataclass(frozen=True)
class Config:
    demonstrations: int = 200  # expert episodes of EPISODE_STEPS transitions
    labelled: int = 200  # labelled transitions (whole episodes)
    eval_episodes: int = 100
    draws: int = 3
    synthetic_samples: int = 1  # generated versions of each expert episode (sampling seeds)
    lam_clip: int = 8  # frames per LAM window, as in its training
    seed: int = 0


QUICK = Config(demonstrations=16, labelled=50, eval_episodes=8, draws=1, synthetic_samples=1)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def lam_codes(world: WorldModel, demos: Demonstrations, clip: int) -> np.ndarray:
    """The frozen LAM's latent action [E, T] of every demonstrated transition (windows overlapping by one frame)."""
    labeller = LatentLabeller(world.genie.lam, clip)
    for e in range(demos.episodes):
        labeller.add_episode(demos.frames_ETHWC[e], e)
    codes_N, _, episodes_N, times_N = labeller.finish()
    codes_ET = np.zeros(demos.commands_ET3.shape[:2], dtype=np.int64)
    codes_ET[episodes_N, times_N] = codes_N
    return codes_ET


def code_commands(codes_ET: np.ndarray, demos: Demonstrations, episodes: np.ndarray, num_codes: int) -> np.ndarray:
    """Each latent action's mean labelled command [K, 3] (zero for a code the labels never show)."""
    return per_code_means(codes_ET[episodes].reshape(-1), demos.commands_ET3[episodes].reshape(-1, 3), num_codes)[0]


def synthetic_transitions(world: WorldModel, demos: Demonstrations, codes_ET: np.ndarray, samples: int) -> np.ndarray:
    """Frames [S, E, T+1, H, W, 3]: each expert episode regenerated from its first frame by the
    learned simulator, driven by the episode's LAM codes, once per sampling seed."""
    out = []
    for s in range(samples):
        world.generator.manual_seed(1_000 + s)
        out.append(np.concatenate([world.rollout(demos.frames_ETHWC[i:i + 50, 0], codes_ET[i:i + 50])
                                   for i in range(0, demos.episodes, 50)]))
    return np.stack(out)


def success(task: ReachTask, policy: Policy, cfg: Config) -> float:
    return float(run_in_mujoco(task, policy, cfg.eval_episodes, progress=False).true_success_E.mean())


def run(cfg: Config, checkpoint: Path) -> dict:
    started = time.time()
    world = WorldModel.from_checkpoint(checkpoint, seed=cfg.seed)
    task = ReachTask(world.cfg.height)
    demos = collect_demonstrations(task, cfg.demonstrations)
    log(f"LAM labels for {demos.episodes * demos.steps} transitions")
    codes_ET = lam_codes(world, demos, cfg.lam_clip)
    K = world.num_actions
    log("generating synthetic episodes in the learned simulator")
    synthetic_SETHWC = synthetic_transitions(world, demos, codes_ET, cfg.synthetic_samples)
    synthetic_frames = synthetic_SETHWC[:, :, :-1].reshape(-1, *synthetic_SETHWC.shape[3:])

    # The latent policy sees no label: one network for every draw (only its code -> command table is per draw).
    latent_net = fit_pixel_net(demos.observations(), codes_ET.reshape(-1), K, train_steps(codes_ET.size), cfg.seed,
                               desc="train latent policy (LAM labels)")
    expert = success(task, ExpertPolicy(task), cfg)  # deterministic: the same in every draw
    rows: dict[str, list[float]] = {name: [] for name in ROWS}
    for draw in range(cfg.draws):
        seed = cfg.seed + draw
        labelled = demos.labelled_episodes(cfg.labelled, draw)
        table_K3 = code_commands(codes_ET, demos, labelled, K)
        rows["random"].append(success(task, RandomPolicy(), replace(cfg, seed=seed)))
        rows["expert"].append(expert)
        rows["bc_200"].append(success(task, behaviour_cloning(demos, labelled, seed, "bc_200"), cfg))
        rows["bc_oracle_all"].append(success(task, behaviour_cloning(demos, None, seed, "bc_oracle_all"), cfg))
        rows["latent_policy_200"].append(success(task, TablePolicy(latent_net, table_K3, "latent_policy_200"), cfg))
        synthetic_labels = command_classes(table_K3[np.tile(codes_ET.reshape(-1), cfg.synthetic_samples)])
        pretrained = fit_pixel_net(synthetic_frames, synthetic_labels, NUM_COMMANDS,
                                   train_steps(len(synthetic_labels), most=1500), seed, desc="pre-train on synthetic episodes")
        rows["synthetic_pretrain_200"].append(
            success(task, behaviour_cloning(demos, labelled, seed, "synthetic_pretrain_200", init=pretrained), cfg))
        log(f"draw {draw}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in rows.items()))

    result: dict = {name: float(np.mean(values)) for name, values in rows.items()}
    result["spread"] = {name: float(np.std(values)) for name, values in rows.items()}
    result["draws"] = rows
    result.update({
        "score": f"success rate: gripper within {SUCCESS_RADIUS} m of the target after {EPISODE_STEPS} steps, "
                 f"{cfg.eval_episodes} evaluation episodes in MuJoCo, mean over {cfg.draws} draws",
        "labelled_transitions": int(demos.labelled_episodes(cfg.labelled, 0).size * demos.steps),
        "demonstrated_transitions": int(demos.episodes * demos.steps),
        "synthetic_transitions": int(len(synthetic_frames)),
        "lam_codes_used": int(np.unique(codes_ET).size),
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": checkpoint_sha256(checkpoint),
        "config": asdict(cfg),
        "seconds": round(time.time() - started, 1),
    })
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny setting (a few minutes; the test suite's)")
    parser.add_argument("--out", type=Path, help=f"also write the JSON to DIR/{RESULT_FILE}")
    parser.add_argument("--checkpoint", type=Path, default=SHIPPED_CHECKPOINT,
                        help="Genie checkpoint with a command map (its LAM labels, its simulator generates)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cfg = replace(QUICK if args.quick else Config(), seed=args.seed)
    os.environ.setdefault("MUJOCO_GL", "egl")
    torch.set_num_threads(1)  # small networks on a shared 2-core machine: one thread is fastest
    result = run(cfg, args.checkpoint)
    text = json.dumps(result, indent=2) + "\n"
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out / RESULT_FILE, text)
    print(text, end="")
    return result


if __name__ == "__main__":
    main()
