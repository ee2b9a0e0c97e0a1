"""Which dynamics training holds a rollout for 32+ steps? A pilot on a lent GPU, before the long CPU run.

The tokenizer and the LAM are trained and frozen; only the dynamics model's recipe is in
question (clip length against the 16-frame context, context noise). `prepare` (CPU, needs the
data extra) writes everything the GPU needs into one small folder: the training episodes as
tokens and LAM codes, held-out clips as pixels with the LAM's codes and the codes the command map
gives their recorded commands. `run` (torch only) trains each variant from scratch at the CPU
recipe's batch size and scores 32-step held-out rollouts driven by the LAM's codes, by random
codes and by the commands, against the still frame, at several step counts. Prints JSON.

  python bench/dynamics_pilot.py prepare --checkpoint RUN/export --train DATA --heldout HELDOUT \
      --labelled LABELLED --out bench/pilot_inputs
  python bench/dynamics_pilot.py run --inputs bench/pilot_inputs --device cuda --out OUT
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

VARIANTS = {  # name: (clip frames, context_noise_max)
    "clip16": (16, 0.0),
    "clip32": (32, 0.0),
    "clip32_noise0.2": (32, 0.2),
    "clip32_noise0.1": (32, 0.1),
}


def prepare(args: argparse.Namespace) -> None:
    from genie_robotics.analysis.command_labels import fit_from_labels, label_commands
    from genie_robotics.analysis.evaluation import EvalOptions, held_out_clips
    from genie_robotics.data.rlds_reader import ClipSpec, RLDSClipDataset
    from genie_robotics.models.checkpoint import load_checkpoint

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(args.checkpoint, out / "checkpoint", dirs_exist_ok=True)
    genie = load_checkpoint(args.checkpoint).eval()
    cfg = genie.cfg
    spec = ClipSpec(frames=args.episode_frames, height=cfg.height, width=cfg.width, stride=1 << 30, shuffle_buffer=0,
                    repeat=False, part="all")
    tokens, codes = [], []
    with torch.no_grad():
        for item in RLDSClipDataset([args.train], spec):
            frames = item["frames"][None]
            tokens.append(genie.tokenizer.encode(frames)[0].short())
            codes.append(genie.lam.infer(frames).quantized.indices[0].to(torch.int8))
    labelled = label_commands(genie, args.labelled, 40, progress=False)
    command_map = fit_from_labels(genie, labelled, 20, labelled.after(20))
    opts = EvalOptions(model=Path(args.checkpoint), data=[args.heldout], episodes=32, horizon=32, progress=False)
    held = held_out_clips(cfg, opts, with_commands=True)
    with torch.no_grad():
        lam = genie.lam.infer(held.frames_BTHWC).quantized.indices
    zero = int(command_map.latent_actions(np.zeros(3)))
    np.savez_compressed(out / "pilot.npz", train_tokens=torch.stack(tokens).numpy(), train_codes=torch.stack(codes).numpy(),
                        heldout_frames=held.frames_BTHWC.numpy(), heldout_lam=lam.numpy().astype(np.int8),
                        heldout_commands=command_map.latent_actions(held.commands_BTF[:, :-1]).astype(np.int8),
                        zero_command=np.array(zero))
    print(json.dumps({"episodes": len(tokens), "command_map": command_map.fitted_on, "zero_command_code": zero}))


def _psnr_BT(a_BTHWC: torch.Tensor, b_BTHWC: torch.Tensor) -> torch.Tensor:
    mse = ((a_BTHWC.float() - b_BTHWC.float()) / 255).square().mean(dim=(-3, -2, -1))
    return 10 * torch.log10(1 / mse.clamp_min(1e-10))


def _moving_psnr_T(guess_BTHWC: torch.Tensor, truth_BTHWC: torch.Tensor) -> list[float]:
    moving = (truth_BTHWC.short() - truth_BTHWC[:, :1].short()).abs().amax(-1) > 25
    err = ((guess_BTHWC.float() - truth_BTHWC.float()) / 255).square().mean(-1)
    return [round(float(10 * torch.log10(1 / (err[:, t][moving[:, t]].mean()).clamp_min(1e-10))), 2)
            for t in range(1, truth_BTHWC.shape[1])]


@torch.no_grad()
def score(genie, data: dict, device: str, temperature: float | None = None, steps: int | None = None) -> dict:
    from genie_robotics.sim.world_model import WorldModel

    frames = data["heldout_frames"].to(device)
    world = WorldModel(genie, seed=0, device=device, temperature=temperature, maskgit_steps=steps)
    prompts = frames[:, 0].cpu().numpy()
    rng = np.random.default_rng(0)
    drivers = {"lam": data["heldout_lam"], "random": rng.integers(0, genie.cfg.num_actions, data["heldout_lam"].shape),
               "commands": data["heldout_commands"]}
    still = frames[:, :1].expand_as(frames)
    result = {"still": _psnr_BT(still, frames)[:, 1:].mean(0).tolist(), "still_moving": _moving_psnr_T(still, frames)}
    for name, codes in drivers.items():
        rollout = torch.as_tensor(world.rollout(prompts, np.asarray(codes, dtype=np.int64)), device=device)
        result[name] = _psnr_BT(rollout, frames)[:, 1:].mean(0).tolist()
        result[f"{name}_moving"] = _moving_psnr_T(rollout, frames)
        if name == "commands":
            result["commands_grid"] = rollout[:4].cpu().numpy()
    held = world.rollout(prompts, np.full((len(prompts), 8), int(data["zero_command"])))
    result["zero_command_psnr_t8"] = float(_psnr_BT(torch.as_tensor(held[:, 8:9]), torch.as_tensor(prompts[:, None])).mean())
    for key in ("still", "lam", "random", "commands"):
        result[key] = [round(v, 2) for v in result[key]]
    return result


def bands(result: dict) -> dict:
    """Mean gains per band of t: commands over still / random, moving commands over still."""
    out = {}
    for lo, hi in ((1, 8), (9, 16), (17, 24), (25, 32)):
        sl = slice(lo - 1, hi)
        out[f"t{lo}-{hi}"] = {
            "cmd-still": round(float(np.mean(result["commands"][sl]) - np.mean(result["still"][sl])), 2),
            "cmd-random": round(float(np.mean(result["commands"][sl]) - np.mean(result["random"][sl])), 2),
            "lam-random": round(float(np.mean(result["lam"][sl]) - np.mean(result["random"][sl])), 2),
            "cmd_moving-still": round(float(np.mean(result["commands_moving"][sl]) - np.mean(result["still_moving"][sl])), 2),
            "min cmd-still": round(float(np.min(np.subtract(result["commands"][sl], result["still"][sl]))), 2),
            "min cmd-random": round(float(np.min(np.subtract(result["commands"][sl], result["random"][sl]))), 2),
        }
    return out


def run(args: argparse.Namespace) -> None:
    from genie_robotics.models.checkpoint import load_checkpoint
    from genie_robotics.models.dynamics import DynamicsModel
    from genie_robotics.nn.optim import make_optimizer, warmup_cosine

    device = args.device
    inputs = Path(args.inputs)
    raw = np.load(inputs / "pilot.npz")
    data = {k: torch.as_tensor(raw[k]) if k != "zero_command" else raw[k] for k in raw.files}
    for key in ("heldout_frames", "heldout_lam", "heldout_commands"):
        data[key] = data[key][: args.heldout_episodes]
    tokens_ETN = data["train_tokens"].long().to(device)
    codes_ET = data["train_codes"].long().to(device)
    E, T_ep = tokens_ETN.shape[:2]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    grids = {}
    report = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "batch": args.batch,
              "steps": args.steps, "variants": {}}
    for name in args.variants:
        clip, noise = VARIANTS[name]
        genie = load_checkpoint(inputs / "checkpoint", device).eval()
        genie.cfg.dynamics = dataclasses.replace(genie.cfg.dynamics, context_noise_max=noise)
        torch.manual_seed(args.seed)
        genie.dynamics = DynamicsModel(genie.cfg).to(device)
        codebook = genie.lam.quantizer.lookup
        opt = make_optimizer(genie.dynamics.parameters(), args.lr)
        g = torch.Generator(device=device).manual_seed(args.seed)
        rows, start = [], time.time()
        for step in range(1, max(args.steps) + 1):
            for group in opt.param_groups:
                group["lr"] = args.lr * warmup_cosine(step, max(args.steps), args.warmup)
            e = torch.randint(0, E, (args.batch,), device=device, generator=g)
            s = torch.randint(0, T_ep - clip + 1, (args.batch,), device=device, generator=g)
            t = s[:, None] + torch.arange(clip, device=device)
            tokens = tokens_ETN[e[:, None], t]
            actions = codebook(codes_ET[e[:, None], t[:, :-1]])
            genie.dynamics.train()
            loss = genie.dynamics.loss(tokens, actions, g)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(genie.dynamics.parameters(), 1.0)
            opt.step()
            if step in args.steps:
                genie.dynamics.eval()
                result = score(genie, data, device)
                grid = result.pop("commands_grid")
                grids[f"{name}_{step}"] = grid
                rows.append({"step": step, "loss": round(float(loss), 3), "seconds": round(time.time() - start, 1),
                             "bands": bands(result), **result})
                print(name, step, json.dumps(rows[-1]["bands"]), flush=True)
        report["variants"][name] = rows
        if name == args.variants[-1] and args.sampling:
            report["sampling"] = {}
            for temp, steps in ((0.5, 4), (1.0, 1), (1.0, 8), (0.25, 1)):
                r = score(genie, data, device, temperature=temp, steps=steps)
                r.pop("commands_grid")
                report["sampling"][f"T{temp}_steps{steps}"] = {"bands": bands(r), **r}
                print("sampling", temp, steps, json.dumps(report["sampling"][f"T{temp}_steps{steps}"]["bands"]), flush=True)
        (out / "dynamics_pilot.json").write_text(json.dumps(report, indent=1))
        np.savez_compressed(out / "grids.npz", **grids)
    print(json.dumps({k: [r["bands"] for r in v] for k, v in report["variants"].items()}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("prepare")
    pr.add_argument("--checkpoint", required=True)
    pr.add_argument("--train", required=True)
    pr.add_argument("--heldout", required=True)
    pr.add_argument("--labelled", required=True)
    pr.add_argument("--episode-frames", type=int, default=64)
    pr.add_argument("--out", required=True)
    rn = sub.add_parser("run")
    rn.add_argument("--inputs", required=True)
    rn.add_argument("--out", required=True)
    rn.add_argument("--device", default="cuda")
    rn.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    rn.add_argument("--steps", type=int, nargs="+", default=[1500, 3000, 6000])
    rn.add_argument("--batch", type=int, default=4)
    rn.add_argument("--lr", type=float, default=1e-3)
    rn.add_argument("--warmup", type=int, default=100)
    rn.add_argument("--seed", type=int, default=0)
    rn.add_argument("--heldout-episodes", type=int, default=32)
    rn.add_argument("--sampling", action="store_true", help="also score sampling settings on the last variant")
    args = p.parse_args()
    prepare(args) if args.cmd == "prepare" else run(args)


if __name__ == "__main__":
    main()
