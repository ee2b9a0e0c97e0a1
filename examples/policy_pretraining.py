"""Policy pre-training from latent actions (Genie, Sec. 3.3) at small scale, in the MuJoCo scene.

Genie labels expert videos with its frozen latent action model (LAM), trains a policy to predict
those latent actions, and then needs only a few labelled transitions (200 in the paper) to map
latent actions to real ones; the result matched a behaviour-cloning (BC) oracle trained on all the
true actions. This script runs that experiment in dm_control's `manipulator` scene with the shipped
`tiny` checkpoint:

1. Task "reach": bring the gripper's pinch site within 5 cm of the scene's (randomly placed) target
   ball within 25 control steps (2.5 s at 10 FPS). A scripted expert (resolved-rate control through
   the joint damping, gravity compensated) solves it; its episodes are rendered at 64x64 like the
   LAM's training video, with the true actions (4 arm torques + gripper, as in the renderer).
2. Every transition t -> t+1 of the expert video gets a latent action (code 0..7) from the frozen LAM.
3. A latent-action policy (observation -> code) is trained on ALL expert transitions, LAM labels only.
4. A map code -> real action is fitted on 200 labelled transitions (8 whole episodes): each code's
   mean true action (a lookup table, the simplest latent -> real map); the policy acts greedily.
5. BC on the true actions of the same 200 transitions, and BC on all of them (the oracle).
6. A uniformly random policy.
All are evaluated on the same evaluation seeds; the score is the success rate.

Small-scale simplifications (say so when quoting the numbers): the policies observe the low-dim
state and the target (joint angles and velocities, pinch and target positions), not pixels; only the
labels come from video. The ball is made a ghost to the arm (it still falls and rolls on the floor)
so that it cannot block a reach. As a reference for "what a LAM whose codes tracked the actions would
give", the latent pipeline is also run with codes from k-means of the true actions (an oracle
labeller, not a LAM), and the expert is run with its actions snapped to those 8 cluster means
(the ceiling for any 8-code latent policy with a per-code action table).

    .venv/bin/python examples/policy_pretraining.py [--quick] [--out DIR]

Progress goes to stderr; one JSON object goes to stdout (and to DIR/policy_pretraining.json).
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
from torch import nn
from tqdm import tqdm

from genie_robotics.analysis.action_statistics import code_usage, kmeans, normalized_mutual_information, per_code_means
from genie_robotics.analysis.latent_labels import LatentLabeller
from genie_robotics.core.assets import SHIPPED_CHECKPOINT
from genie_robotics.data.mujoco_render import ARM_ACTUATORS, ARM_JOINTS, FPS, load_scene
from genie_robotics.models.checkpoint import load_checkpoint

SUCCESS_RADIUS = 0.05  # metres between the pinch site and the target ball at the last step
EXPERT_SEED, EVAL_SEED = 100_000, 200_000  # episode seeds; the tiny LAM was trained on seed-0 video


@dataclass(frozen=True)
class Config:
    expert_episodes: int = 200
    steps: int = 25  # control steps (transitions) per episode; frames = steps + 1
    labelled: int = 200  # labelled transitions for the map and for BC-200
    eval_episodes: int = 100
    repeats: int = 3  # draws of the labelled episodes; the 200-sample scores are their mean
    hidden: int = 128
    train_steps: int = 3000
    batch: int = 256
    lam_clip: int = 8  # frames per LAM clip, as in training (clips overlap by one frame)
    size: int = 64
    seed: int = 0


QUICK = Config(expert_episodes=16, eval_episodes=16, repeats=1, hidden=64, train_steps=300)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def progress(iterable, desc: str, unit: str):
    return tqdm(iterable, desc=desc, unit=unit, file=sys.stderr, mininterval=2.0)


class ReachScene:
    """dm_control manipulator-ball with a reach task: the pinch site to the target ball."""

    def __init__(self, seed: int = 0) -> None:
        # Framed and drawn like the teleop episodes the shipped LAM learned from.
        self.env = load_scene("manipulator-ball", seed, policy="teleop")
        self.physics = physics = self.env.physics
        model = physics.model
        # The ball collides with the floor and walls but not with the arm (bit 2 only).
        for g in range(model.ngeom):
            name = model.id2name(g, "geom")
            if name in ("floor", "wall1", "wall2", "background"):
                model.geom_contype[g] |= 2
                model.geom_conaffinity[g] |= 2
            elif name == "ball":
                model.geom_contype[g] = model.geom_conaffinity[g] = 2
        joints = [model.name2id(j, "joint") for j in ARM_JOINTS]
        self.dofs = model.jnt_dofadr[joints]
        self.qpos = model.jnt_qposadr[joints]
        self.gear = model.actuator_gear[:ARM_ACTUATORS, 0].copy()
        self.damping = model.dof_damping[self.dofs].copy()
        self.pinch = model.name2id("pinch", "site")
        self.target = model.name2id("target_ball", "site")
        frame_skip = max(1, round(1.0 / (FPS * self.env.control_timestep())))  # as the renderer
        self.substeps = frame_skip * round(self.env.control_timestep() / model.opt.timestep)
        self.action_dim = self.env.action_spec().shape[0]

    def reset(self, seed: int) -> None:
        self.env.task.random.seed(seed)  # arm pose, target and ball placement
        self.env.reset()

    def step(self, action: np.ndarray) -> None:
        """Hold `action` for one frame (1 / FPS seconds)."""
        self.physics.set_control(np.clip(action, -1.0, 1.0))
        self.physics.step(self.substeps)

    def positions(self) -> tuple[np.ndarray, np.ndarray]:
        xpos = self.physics.data.site_xpos
        return xpos[self.pinch][[0, 2]].copy(), xpos[self.target][[0, 2]].copy()

    def distance(self) -> float:
        pinch, target = self.positions()
        return float(np.linalg.norm(target - pinch))

    def observation(self) -> np.ndarray:
        """Low-dim state + target: sin/cos of the 4 arm joints, their velocities, pinch, target, difference."""
        q = self.physics.data.qpos[self.qpos]
        pinch, target = self.positions()
        parts = (np.sin(q), np.cos(q), self.physics.data.qvel[self.dofs], pinch, target, target - pinch)
        return np.concatenate(parts).astype(np.float32)

    def render(self, size: int) -> np.ndarray:
        return self.physics.render(size, size, camera_id="fixed")

    def expert_action(self, gain=6.0, velocity_gain=0.3, ridge=1e-2, posture_gain=1.0, max_speed=3.0) -> np.ndarray:
        """Resolved-rate reach: joint velocities toward the target (damped pseudo-inverse, a posture
        term in the null space), turned into torques through the joint damping, plus gravity and
        Coriolis compensation. Torque control held for 0.1 s is stable this way, unlike a stiff PD."""
        import mujoco

        data, model = self.physics.data, self.physics.model
        pinch, target = self.positions()
        jac = np.zeros((3, model.nv))
        mujoco.mj_jacSite(model.ptr, data.ptr, jac, None, self.pinch)
        jac_J = jac[[0, 2]][:, self.dofs]
        pinv = jac_J.T @ np.linalg.inv(jac_J @ jac_J.T + ridge * np.eye(2))
        q = data.qpos[self.qpos]
        rest = np.array([q[0], 0.0, 0.0, 0.0])  # the root is free to turn; the rest stretches out
        velocity = pinv @ (gain * (target - pinch)) + (np.eye(4) - pinv @ jac_J) @ (posture_gain * (rest - q))
        velocity *= min(1.0, max_speed / (np.abs(velocity).max() + 1e-9))
        torque = data.qfrc_bias[self.dofs] + self.damping * velocity + velocity_gain * (velocity - data.qvel[self.dofs])
        action = np.zeros(self.action_dim)
        action[:ARM_ACTUATORS] = np.clip(torque / self.gear, -1.0, 1.0)
        return action  # the gripper command stays 0


def collect_expert(scene: ReachScene, cfg: Config) -> dict[str, np.ndarray]:
    """Expert episodes: observations and actions [E, steps, .], frames [E, steps + 1, H, W, 3] uint8."""
    obs, actions, frames, final = [], [], [], []
    for e in progress(range(cfg.expert_episodes), "render expert episodes", "episode"):
        scene.reset(EXPERT_SEED + e)
        ep_obs, ep_actions, ep_frames = [], [], [scene.render(cfg.size)]
        for _ in range(cfg.steps):
            ep_obs.append(scene.observation())
            ep_actions.append(scene.expert_action())
            scene.step(ep_actions[-1])
            ep_frames.append(scene.render(cfg.size))
        obs.append(ep_obs)
        actions.append(ep_actions)
        frames.append(ep_frames)
        final.append(scene.distance())
    return {"obs": np.asarray(obs, np.float32), "actions": np.asarray(actions, np.float32),
            "frames": np.asarray(frames, np.uint8), "final_distance": np.asarray(final)}


def lam_labels(lam, frames_ETHWC: np.ndarray, clip: int) -> np.ndarray:
    """Latent action [E, T-1] of every transition, from windows of `clip` frames overlapping by one."""
    labeller = LatentLabeller(lam, clip)
    for e in progress(range(len(frames_ETHWC)), "label transitions with the LAM", "episode"):
        labeller.add_episode(frames_ETHWC[e], e)
    codes_N, _, episodes_N, times_N = labeller.finish()
    codes = np.empty(frames_ETHWC.shape[:2], dtype=np.int64)[:, :-1]
    codes[episodes_N, times_N] = codes_N
    return codes


class MLP(nn.Module):
    """Standardised inputs -> two hidden layers -> outputs (regression or class logits)."""

    def __init__(self, x_NF: np.ndarray, outputs: int, hidden: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(x_NF.mean(0)))
        self.register_buffer("std", torch.tensor(np.maximum(x_NF.std(0), 1e-6)))
        self.net = nn.Sequential(nn.Linear(x_NF.shape[1], hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


def fit(x_NF: np.ndarray, y_N: np.ndarray, cfg: Config, seed: int, classes: int = 0, desc: str = "fit") -> MLP:
    """Adam on MSE (regression to actions) or cross-entropy (`classes` > 0, integer targets)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = MLP(x_NF, classes or y_N.shape[1], cfg.hidden)
    x = torch.from_numpy(x_NF)
    y = torch.from_numpy(y_N)
    loss_fn = nn.CrossEntropyLoss() if classes else nn.MSELoss()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.train_steps)
    for _ in progress(range(cfg.train_steps), desc, "step"):
        idx = torch.randint(len(x), (min(cfg.batch, len(x)),), generator=gen)
        loss = loss_fn(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


class LatentPolicy:
    """The latent policy's most likely code for the observation, looked up in the code -> action table."""

    def __init__(self, policy: MLP, table_KA: np.ndarray) -> None:
        self.policy, self.table_KA = policy, table_KA

    @torch.inference_mode()
    def __call__(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.table_KA[self.policy(torch.from_numpy(obs[None])).argmax(-1).item()]


def regression_policy(model: MLP):
    @torch.inference_mode()
    def act(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return model(torch.from_numpy(obs[None]))[0].numpy()
    return act


def quantised_expert(scene: ReachScene, actions_NA: np.ndarray, clusters_N: np.ndarray):
    """The expert with each action snapped to the nearest cluster mean: the best a perfect latent policy
    with these codes and a per-code action table could do."""
    centres_KA = per_code_means(clusters_N, actions_NA, int(clusters_N.max()) + 1)[0]
    scale_A = actions_NA.std(0) + 1e-6

    def act(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return centres_KA[(((centres_KA - scene.expert_action()) / scale_A) ** 2).sum(1).argmin()]
    return act


def code_prediction(obs_EF: np.ndarray, codes_E: np.ndarray, cfg: Config, classes: int, desc: str) -> dict[str, float]:
    """How well the observation predicts a labelling: accuracy on the last 20% of the episodes when
    trained on the rest, against always guessing the training majority code."""
    split = max(1, int(0.8 * len(obs_EF)))
    x_train, x_test = (o.reshape(-1, o.shape[-1]) for o in (obs_EF[:split], obs_EF[split:]))
    y_train, y_test = codes_E[:split].reshape(-1), codes_E[split:].reshape(-1)
    model = fit(x_train, y_train, cfg, cfg.seed, classes, f"held-out check: {desc}")
    with torch.inference_mode():
        predicted = model(torch.from_numpy(x_test)).argmax(-1).numpy()
    majority = np.bincount(y_train, minlength=classes).argmax()
    return {"accuracy": float((predicted == y_test).mean()),
            "majority_code_accuracy": float((y_test == majority).mean())}


def evaluate(scene: ReachScene, policy, cfg: Config, desc: str) -> dict[str, float]:
    """Success rate and mean final pinch-target distance over the fixed evaluation seeds."""
    final = []
    for e in progress(range(cfg.eval_episodes), f"evaluate {desc}", "episode"):
        scene.reset(EVAL_SEED + e)
        rng = np.random.default_rng(EVAL_SEED + e)
        for _ in range(cfg.steps):
            scene.step(policy(scene.observation(), rng))
        final.append(scene.distance())
    final = np.asarray(final)
    result = {"success": float((final < SUCCESS_RADIUS).mean()), "final_distance_m": float(final.mean())}
    log(f"{desc}: success {result['success']:.3f}, mean final distance {result['final_distance_m']:.3f} m")
    return result


def labelled_split(episodes: int, cfg: Config, repeat: int) -> np.ndarray:
    """Whole episodes, drawn at random, holding at most `cfg.labelled` transitions."""
    count = max(1, cfg.labelled // cfg.steps)
    return np.random.default_rng(cfg.seed + 1000 + repeat).choice(episodes, size=min(count, episodes), replace=False)


def run(cfg: Config, checkpoint: Path) -> dict:
    started = time.time()
    scene = ReachScene(cfg.seed)
    data = collect_expert(scene, cfg)
    obs_EF, actions_EA = data["obs"], data["actions"]
    n_eps, n_steps = obs_EF.shape[:2]

    genie = load_checkpoint(checkpoint)
    classes = genie.cfg.num_actions
    if genie.cfg.height != cfg.size or genie.cfg.width != cfg.size:
        raise SystemExit(f"checkpoint {checkpoint} expects {genie.cfg.height}x{genie.cfg.width} frames, not {cfg.size}")
    codes_E = lam_labels(genie.lam, data["frames"], cfg.lam_clip)
    del genie

    obs_NF = obs_EF.reshape(-1, obs_EF.shape[-1])
    actions_NA = actions_EA.reshape(-1, actions_EA.shape[-1])
    codes_N = codes_E.reshape(-1)
    # The reference labelling: 8 clusters of the true arm torques (an oracle labeller, not a LAM).
    clusters_N = kmeans(actions_NA[:, :ARM_ACTUATORS], classes, seed=cfg.seed)
    random_codes_N = np.random.default_rng(cfg.seed).integers(0, classes, size=codes_N.shape)
    predictability = {
        "lam": code_prediction(obs_EF, codes_E, cfg, classes, "LAM codes"),
        "action_clusters": code_prediction(obs_EF, clusters_N.reshape(codes_E.shape), cfg, classes, "action clusters"),
    }

    # Latent-action policies see no true action: trained on every expert transition's code.
    latent_policy = fit(obs_NF, codes_N, cfg, cfg.seed, classes, "latent policy (LAM codes)")
    cluster_policy = fit(obs_NF, clusters_N, cfg, cfg.seed, classes, "latent policy (action-cluster codes)")
    oracle = fit(obs_NF, actions_NA, cfg, cfg.seed, desc="BC oracle (all true actions)")

    scores = {
        "random": evaluate(scene, lambda obs, rng: rng.uniform(-1.0, 1.0, scene.action_dim), cfg, "random"),
        "expert": evaluate(scene, lambda obs, rng: scene.expert_action(), cfg, "expert"),
        "expert_quantised_to_8_codes": evaluate(scene, quantised_expert(scene, actions_NA, clusters_N), cfg,
                                                "expert_quantised_to_8_codes"),
        "bc_oracle_all": evaluate(scene, regression_policy(oracle), cfg, "bc_oracle_all"),
    }
    per_repeat = {"bc_200": [], "latent_policy_200": [], "latent_policy_200_action_cluster_codes": []}
    labelled_counts = []
    for r in range(cfg.repeats):
        rows = (labelled_split(n_eps, cfg, r)[:, None] * n_steps + np.arange(n_steps)).ravel()
        labelled_counts.append(len(rows))
        bc = fit(obs_NF[rows], actions_NA[rows], cfg, cfg.seed + 1 + r, desc=f"BC-{len(rows)} (repeat {r})")
        per_repeat["bc_200"].append(evaluate(scene, regression_policy(bc), cfg, f"bc_200 (repeat {r})"))
        for key, policy, labels_N in (("latent_policy_200", latent_policy, codes_N),
                                      ("latent_policy_200_action_cluster_codes", cluster_policy, clusters_N)):
            table_KA = per_code_means(labels_N[rows], actions_NA[rows], classes)[0]
            per_repeat[key].append(evaluate(scene, LatentPolicy(policy, table_KA), cfg, f"{key} (repeat {r})"))
    for key, results in per_repeat.items():
        scores[key] = {m: float(np.mean([res[m] for res in results])) for m in ("success", "final_distance_m")}

    usage = code_usage(codes_N, classes)
    return {
        "random": scores["random"]["success"],
        "bc_200": scores["bc_200"]["success"],
        "bc_oracle_all": scores["bc_oracle_all"]["success"],
        "latent_policy_200": scores["latent_policy_200"]["success"],
        "expert": scores["expert"]["success"],
        "score": f"success rate: pinch site within {SUCCESS_RADIUS} m of the target after {cfg.steps} steps, "
                 f"{cfg.eval_episodes} evaluation episodes (seeds {EVAL_SEED}..{EVAL_SEED + cfg.eval_episodes - 1})",
        "final_distance_m": {k: v["final_distance_m"] for k, v in scores.items()},
        "per_repeat_success": {k: [res["success"] for res in v] for k, v in per_repeat.items()},
        "reference": {
            "latent_policy_200_action_cluster_codes": scores["latent_policy_200_action_cluster_codes"]["success"],
            "expert_quantised_to_8_codes": scores["expert_quantised_to_8_codes"]["success"],
            "action_cluster_code_prediction": predictability["action_clusters"],
            "note": "the same latent pipeline with codes from k-means (8) of the true arm torques instead of the "
                    "LAM (an oracle labeller: what a LAM whose codes tracked the actions would give), and the "
                    "expert with its actions snapped to those 8 cluster means (the ceiling for 8 codes + a table)",
        },
        "lam": {
            "checkpoint": str(checkpoint),
            "transitions": int(codes_N.size),
            "labels": int(codes_N.size),
            "expert_transitions": int(n_eps * n_steps),
            "distinct_codes": int(np.unique(codes_N).size),
            "code_usage": [round(u, 4) for u in usage],
            "nmi_codes_vs_action_clusters": normalized_mutual_information(codes_N, clusters_N),
            "nmi_random_codes_vs_action_clusters": normalized_mutual_information(random_codes_N, clusters_N),
            "code_prediction": predictability["lam"],
        },
        "labelled_transitions": labelled_counts,
        "latent_to_real_map": "lookup table: each code's mean labelled true action; the latent policy acts greedily",
        "expert_train_success": float((data["final_distance"] < SUCCESS_RADIUS).mean()),
        "observation": "low-dim state + target (sin/cos and velocities of 4 arm joints, pinch, target, difference)",
        "config": asdict(cfg),
        "seconds": round(time.time() - started, 1),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny configuration (about a minute)")
    parser.add_argument("--out", type=Path, help="also write the JSON to DIR/policy_pretraining.json")
    parser.add_argument("--checkpoint", type=Path, default=SHIPPED_CHECKPOINT, help="Genie checkpoint (its LAM labels)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cfg = replace(QUICK if args.quick else Config(), seed=args.seed)
    os.environ.setdefault("MUJOCO_GL", "egl")
    torch.set_num_threads(1)  # small MLPs and a shared 2-core machine: one thread is fastest
    result = run(cfg, args.checkpoint)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "policy_pretraining.json").write_text(text + "\n")
    print(text)
    return result


if __name__ == "__main__":
    main()
