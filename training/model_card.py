"""Ship a trained export: copy its weights, measure held-out quality, write a model card.

  python -m training.model_card RUN_DIR/export --data DATASET --out genie_robotics/checkpoints/tiny \
      --command "the commands that trained it"

Held-out = the validation episodes of DATASET (the same split the training run left out).
Metrics: tokenizer PSNR on 8-frame clips, and ΔtPSNR at t = 4 (paper sampling: 25 MaskGIT steps,
temperature 2), with the PSNRs it is the difference of.
"""
from __future__ import annotations

import argparse
import datetime
import json
import shutil
from pathlib import Path

import torch

from genie_robotics.checkpoint import CONFIG_FILE, WEIGHTS_FILE, atomic_write_text, load_checkpoint
from genie_robotics.data.rlds_reader import ClipSpec, RLDSClipDataset
from genie_robotics.evaluation import delta_psnr, tokenizer_psnr


REPORT_COMMANDS = """
genie-robotics data render --out outputs/data/heldout-ball-64x64-seed2000 --episodes 32 --steps 16 --seed 2000
genie-robotics eval genie_robotics/checkpoints/tiny --data outputs/data/heldout-ball-64x64-seed2000 --episodes 32 \\
   --horizon 8 --maskgit-steps 25 --temperature 2 --json genie_robotics/checkpoints/tiny/eval.json
genie-robotics probe genie_robotics/checkpoints/tiny --data outputs/data/heldout-ball-64x64-seed2000 \\
   --out genie_robotics/checkpoints/tiny/probe
"""


def measure(export: Path, data: str, val_fraction: float, clip_frames: int = 8) -> dict:
    genie = load_checkpoint(export)
    cfg = genie.cfg
    spec = ClipSpec(frames=clip_frames, height=cfg.height, width=cfg.width, stride=clip_frames, shuffle_buffer=0,
                    repeat=False, part="validation", val_fraction=val_fraction)
    clips = torch.stack([c["frames"] for c in RLDSClipDataset([data], spec)])
    torch.manual_seed(0)
    controllability = delta_psnr(genie, clips, t=4, maskgit_steps=25, temperature=2.0, seed=0)
    return {
        "heldout_clips": int(clips.shape[0]),
        "clip_frames": clip_frames,
        "tokenizer_psnr": round(tokenizer_psnr(genie, clips.split(8)), 3),
        "delta_psnr_t4": round(controllability["delta_psnr"], 3),
        "psnr_t4_inferred_actions": round(controllability["psnr_inferred"], 3),
        "psnr_t4_random_actions": round(controllability["psnr_random"], 3),
        "parameters": genie.parameter_counts(),
        "lam_code_usage": [round(float(u), 4) for u in genie.lam.quantizer.usage_fractions()],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("export", type=Path)
    p.add_argument("--data", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--command", required=True, help="the exact commands that produced the export")
    p.add_argument("--val-fraction", type=float, default=0.05)
    args = p.parse_args()
    metrics = measure(args.export, args.data, args.val_fraction)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        shutil.copyfile(args.export / name, args.out / name)
    atomic_write_text(args.out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    n = metrics["parameters"]
    card = f"""# Model card: genie_robotics `tiny` on rendered MuJoCo robot-arm video

- **What**: the full Genie stack (video tokenizer, latent action model, MaskGIT dynamics), preset
  `tiny`: {n['total']:,} parameters (tokenizer {n['tokenizer']:,}, LAM {n['lam']:,}, dynamics
  {n['dynamics']:,}); 64x64 frames, 8 latent actions, context 16 frames at 10 FPS.
- **Data**: dm_control `manipulator` (bring-ball scene) episodes rendered by `genie-robotics data render`,
  64x64, 10 FPS; the policy is smooth random torques. True actions were never used.
- **Trained**: on CPU (2 cores), DeepSpeed CPU accelerator, fp32, 8-frame clips. Exact commands:

```
{args.command.strip()}
```

## Held-out results ({metrics['heldout_clips']} clips of {metrics['clip_frames']} frames from validation episodes)
| metric | value |
|---|---|
| tokenizer reconstruction PSNR | {metrics['tokenizer_psnr']} dB |
| ΔtPSNR, t = 4 (25 MaskGIT steps, temperature 2) | {metrics['delta_psnr_t4']} dB |
| PSNR at t = 4, LAM-inferred latent actions | {metrics['psnr_t4_inferred_actions']} dB |
| PSNR at t = 4, uniformly random latent actions | {metrics['psnr_t4_random_actions']} dB |

For scale: the paper's 2.5B robotics model reports ΔtPSNR 2.07 (t = 4, pixel-input LAM) on RT-1.
LAM code usage (EMA at the end of training): {metrics['lam_code_usage']}.

Measured with `python -m training.model_card` on {datetime.date.today().isoformat()}. A tiny model
trained for minutes on a CPU: it shows the pipeline end to end; it is not a useful simulator.

## Eval and probe reports (beside this card)
`eval.json` and `probe/` (probe.json, README.md, plots, rollout grid) come from episodes rendered
with another seed than the training data:

```
{REPORT_COMMANDS.strip()}
```
"""
    atomic_write_text(args.out / "MODEL_CARD.md", card)
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
