"""Training throughput per phase: frames/second and tokens/second, eager vs torch.compile.

Times optimizer steps of `Genie.stage_loss` (what the DeepSpeed entry point runs) on fixed
random clips, so the numbers are the model's cost, not the data pipeline's (bench/data.py).
On a GPU it also reports model FLOPs utilisation from a FLOP count of one step.
Usage: python bench/train.py [--preset tiny] [--batch 4] [--frames 8] [--steps 5] [--compile]

`--dynamics-peer [--baseline REV]`: only the dynamics phase at the fixed configuration of the
public PyTorch Genie comparison (4 layers, width 256, 8 heads, vocabulary 1024, 16x16 tokens per
frame, 16 frames, batch 2, fp32) at 1 and 2 threads; with `--baseline REV` the same model code
at git revision REV is timed in the same run, alternating with this checkout, best of
`--repeats`, each in its own process.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from genie_robotics.core.config import preset
from genie_robotics.models.genie import STAGES, Genie
from genie_robotics.nn.optim import make_optimizer

PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # dense bf16 tensor-core peaks


def step_flops(genie: Genie, stage: str, clips: torch.Tensor) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        genie.stage_loss(stage, clips)["loss"].backward()
    genie.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def measure(genie: Genie, stage: str, clips: torch.Tensor, steps: int, compiled: bool) -> dict:
    params = genie.trainable_parameters(stage)
    opt = make_optimizer(params, 1e-4)
    loss_fn = torch.compile(genie.stage_loss) if compiled else genie.stage_loss
    dtype = torch.bfloat16 if clips.is_cuda else None

    def one_step() -> None:
        with torch.autocast(clips.device.type, dtype=dtype, enabled=dtype is not None):
            loss = loss_fn(stage, clips)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    start = time.perf_counter()
    one_step()  # warm-up (and compilation)
    warmup_s = time.perf_counter() - start
    if clips.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        one_step()
    if clips.is_cuda:
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    B, T = clips.shape[:2]
    return {
        "seconds_per_step": round(seconds, 4),
        "frames_per_s": round(B * T / seconds, 1),
        "tokens_per_s": round(B * T * genie.cfg.tokens_per_frame / seconds, 1),
        "first_step_s": round(warmup_s, 2),
    }


PEER = {"depth": 4, "dim": 256, "heads": 8, "vocab": 1024, "frames": 16, "batch": 2}  # 64x64 frames, patch 4: 16x16


def matmul_peak_flops(threads: int) -> float:
    """FLOP/s of one large fp32 matmul at `threads` threads: what the machine's GEMM can do."""
    torch.set_num_threads(threads)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    start = time.perf_counter()
    for _ in range(4):
        a @ b
    return 4 * 2 * 2048**3 / (time.perf_counter() - start)


def peer_tokens_per_s(threads: int, steps: int) -> tuple[float, float]:
    """Training tokens/second of the dynamics model alone at PEER, on random tokens and codes,
    and the FLOP/s that achieves (FLOPs of one step counted by torch)."""
    from torch.utils.flop_counter import FlopCounterMode

    from genie_robotics.models.dynamics import DynamicsModel

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = preset("tiny")
    cfg.tokenizer.quantizer.num_codes = PEER["vocab"]
    cfg.frames = PEER["frames"]
    t = cfg.dynamics.transformer
    t.depth, t.dim, t.heads = PEER["depth"], PEER["dim"], PEER["heads"]
    model = DynamicsModel(cfg).train()
    opt = make_optimizer(model.parameters(), 1e-4)
    B, T, N = PEER["batch"], PEER["frames"], cfg.tokens_per_frame
    tokens_BTN = torch.randint(0, PEER["vocab"], (B, T, N))
    codes_BTD = torch.randn(B, T - 1, cfg.lam.quantizer.code_dim)
    generator = torch.Generator().manual_seed(0)

    def one_step() -> None:
        loss = model.loss(tokens_BTN, codes_BTD, generator)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    with FlopCounterMode(display=False) as counter:
        one_step()
    start = time.perf_counter()
    for _ in range(steps):
        one_step()
    seconds = (time.perf_counter() - start) / steps
    return B * T * N / seconds, counter.get_total_flops() / seconds


def dynamics_peer(args) -> dict:
    """This checkout (and --baseline REV's model code) at PEER, alternating, each run its own process."""
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    trees = {"current": repo}
    with tempfile.TemporaryDirectory() as tmp:
        if args.baseline:
            archive = subprocess.run(["git", "-C", str(repo), "archive", args.baseline, "genie_robotics"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            trees["baseline"] = Path(tmp)
        best: dict[str, dict[int, float]] = {name: {} for name in trees}
        flops: dict[int, float] = {}
        for _ in range(args.repeats):
            for name, tree in trees.items():
                for threads in (1, 2):
                    env = {**os.environ, "PYTHONPATH": str(tree), "GENIE_PEER_WORKER": f"{threads},{args.steps}"}
                    out = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True, check=True)
                    tokens_per_s, flops_per_s, module = out.stdout.split()
                    assert module.startswith(str(tree)), f"{name} ran the model code in {module}, not {tree}"
                    if float(tokens_per_s) > best[name].get(threads, 0.0):
                        best[name][threads] = float(tokens_per_s)
                        if name == "current":
                            flops[threads] = float(flops_per_s)
    result = {"bench": "train_dynamics_peer", "config": PEER, "baseline": args.baseline, "repeats": args.repeats,
              "tokens_per_s": {name: {str(k): round(v, 1) for k, v in rows.items()} for name, rows in best.items()}}
    # How close the step is to the machine's GEMM speed: a step bound by its matrix multiplies
    # cannot get much faster in fp32 whatever else is fused.
    result["achieved_gflop_per_s"] = {str(k): round(v / 1e9, 1) for k, v in flops.items()}
    result["matmul_peak_gflop_per_s"] = {str(k): round(matmul_peak_flops(k) / 1e9, 1) for k in (1, 2)}
    if args.baseline:
        result["speedup_vs_baseline"] = {str(k): round(best["current"][k] / best["baseline"][k], 2) for k in (1, 2)}
    return result


def main() -> None:
    import os

    if "GENIE_PEER_WORKER" in os.environ:  # one timing in its own process (see dynamics_peer)
        import genie_robotics

        threads, steps = (int(v) for v in os.environ["GENIE_PEER_WORKER"].split(","))
        print(*peer_tokens_per_s(threads, steps), genie_robotics.__file__)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dynamics-peer", action="store_true", help="only the dynamics model at the peer configuration")
    parser.add_argument("--baseline", help="--dynamics-peer: also time the model code of this git revision")
    parser.add_argument("--repeats", type=int, default=2, help="--dynamics-peer: best of this many runs each")
    args = parser.parse_args()
    if args.dynamics_peer:
        print(json.dumps(dynamics_peer(args), indent=2))
        return
    torch.manual_seed(0)
    genie = Genie(preset(args.preset)).to(args.device)
    cfg = genie.cfg
    clips = torch.randint(0, 256, (args.batch, args.frames, cfg.height, cfg.width, 3), dtype=torch.uint8, device=args.device)
    result = {"bench": "train", "preset": args.preset, "device": args.device, "threads": torch.get_num_threads(),
              "batch": args.batch, "frames": args.frames, "tokens_per_frame": cfg.tokens_per_frame, "phases": {}}
    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else None
    for stage in STAGES:
        genie.train()
        if stage == "dynamics":
            genie.tokenizer.eval()
        row = {"eager": measure(genie, stage, clips, args.steps, compiled=False)}
        if args.compile:
            row["compiled"] = measure(genie, stage, clips, args.steps, compiled=True)
            row["compile_speedup"] = round(row["eager"]["seconds_per_step"] / row["compiled"]["seconds_per_step"], 2)
        if gpu:
            peak = next((v for k, v in PEAK_BF16_FLOPS.items() if k in gpu), None)
            flops = step_flops(genie, stage, clips)
            best = min(r["seconds_per_step"] for r in (row["eager"], row.get("compiled", row["eager"])))
            row["model_flops_per_step"] = flops
            row["mfu"] = round(flops / best / peak, 4) if peak else None
        result["phases"][stage] = row
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
