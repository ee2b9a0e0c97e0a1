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

from genie_robotics.analysis.command_labels import fit_from_labels, label_commands
from genie_robotics.analysis.evaluation import HOLD_STEPS, EvalOptions, EvalResult, evaluate, held_out_clips
from genie_robotics.analysis.probe import ProbeOptions, ProbeResult, probe
from genie_robotics.cli.messages import sampling_phrase
from genie_robotics.commands import COMMAND_MAP_FILE
from genie_robotics.core.atomic_files import atomic_write_text
from genie_robotics.core.checkpoint_files import save_checkpoint
from genie_robotics.core.errors import GenieError
from genie_robotics.data.render_settings import RENDER_SETTINGS_FILE, RenderSettings
from genie_robotics.models.checkpoint import load_checkpoint


def _f(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def rollout_table(ev: EvalResult) -> str:
    """Per t: the rollouts driven by the recorded commands (when the checkpoint has a command map),
    the LAM's codes and random codes, beside the still frame; whole frames and the moving region."""
    q = ev.quality
    commands = q.commands_psnr is not None
    driven, driven_moving = (q.commands_psnr, q.commands_moving_psnr) if commands else (q.rollout_psnr, q.moving_psnr)
    name = "commands" if commands else "LAM codes"
    rows = [f"| t | {name} | LAM codes | random codes | still frame | {name} − still | {name} − random | "
            f"{name}, moving | still, moving | gain, moving |", "|---|---|---|---|---|---|---|---|---|---|"]
    for t in range(len(q.rollout_psnr)):
        d, lam, rnd, still = driven[t], q.rollout_psnr[t], q.random_psnr[t], q.baseline_copy_psnr[t]
        dm, sm = driven_moving[t], q.baseline_copy_moving_psnr[t]
        gain_moving = None if dm is None or sm is None else dm - sm
        rows.append(f"| {t + 1} | {_f(d)} | {_f(lam)} | {_f(rnd)} | {_f(still)} | {_f(d - still)} | {_f(d - rnd)} | "
                    f"{_f(dm)} | {_f(sm)} | {_f(gain_moving)} |")
    return "\n".join(rows)


def curve_table(curve: dict | None) -> str:
    """Command-map quality against the labelled episodes it was fitted on."""
    if curve is None:
        return ""
    rows = ["| labelled episodes | transitions | agreement with the LAM (held-out labelled episodes) | "
            "commands-driven PSNR t = 8 | t = 32 | mean t = 1..32 |", "|---|---|---|---|---|---|"]
    for r in curve["rows"]:
        rows.append(f"| {r['episodes']} | {r['transitions']} | {_f(r['heldout_agreement'], 3)} | {_f(r['psnr_t8'])} | "
                    f"{_f(r['psnr_t32'])} | {_f(r['psnr_mean'])} |")
    return "\n".join(rows)


HELDOUT_LABELLED = 20  # labelled episodes kept out of every fit, to score the map's agreement with the LAM
PICTURE_EPISODES = 4


def command_map_curve(genie, labelled_dir: Path, clips_BTHWC, commands_BTF, counts: list[int], opts: EvalOptions,
                      temperature: float) -> dict:
    """For each count of labelled episodes: a command map fitted on them, its agreement with the LAM
    on held-out labelled episodes, and the held-out rollouts it drives from the recorded commands
    (the same seeds as eval's, so the shipped map's row is eval's `commands_psnr`)."""
    import torch

    from genie_robotics.analysis.command_labels import fit_from_labels, label_commands
    from genie_robotics.analysis.evaluation import command_codes, per_step_psnr, rollouts_from_clips

    labelled = label_commands(genie, labelled_dir, max(counts) + HELDOUT_LABELLED, progress=False)
    if labelled.episodes < max(counts) + HELDOUT_LABELLED:
        raise GenieError(f"{labelled_dir} has {labelled.episodes} labelled episodes; the curve needs "
                         f"{max(counts)} + {HELDOUT_LABELLED} held out")
    heldout = labelled.after(max(counts))
    rows = []
    for count in counts:
        fitted = fit_from_labels(genie, labelled, count, heldout)
        codes = command_codes(fitted, commands_BTF)
        frames = torch.cat([rollouts_from_clips(genie, batch, codes[i * opts.batch:i * opts.batch + len(batch), :-1],
                                                opts.maskgit_steps, temperature, opts.seed + i)
                            for i, batch in enumerate(clips_BTHWC.split(opts.batch))])
        per_t = per_step_psnr(clips_BTHWC, frames)
        rows.append({"episodes": count, "transitions": fitted.fitted_on["transitions"],
                     "heldout_agreement": fitted.fitted_on["heldout_agreement"], "psnr_by_t": per_t,
                     "psnr_t8": per_t[7], "psnr_t32": per_t[31] if len(per_t) >= 32 else None,
                     "psnr_mean": sum(per_t) / len(per_t)})
    return {"labelled": str(labelled_dir), "heldout_labelled_episodes": HELDOUT_LABELLED, "rows": rows}


def rollout_picture(clips_BTHWC, driven_BTHWC, path: Path) -> Path:
    """Ground truth above the commands-driven rollout, for the first held-out episodes, every frame."""
    import numpy as np

    from genie_robotics.core.images import grid, save_png

    rows = []
    for b in range(min(PICTURE_EPISODES, len(clips_BTHWC))):
        rows += [clips_BTHWC[b].cpu().numpy(), driven_BTHWC[b].cpu().numpy()]
    return save_png(grid(np.stack(rows)), path, scale=2)


def sweep_section(sweep: dict | None) -> str:
    """Where the sampling defaults come from: bench/maskgit_sweep.py's JSON, summarised."""
    if sweep is None:
        return ""
    rows = sorted(sweep["rows"], key=lambda r: -r["margin"])
    lines = "\n".join(f"- {sampling_phrase(r['maskgit_steps'], r['temperature'], r['unmasking'])}: weakest margin "
                      f"{r['margin']:.2f} dB, ΔtPSNR t = 16 / 32 {_f(r['delta_psnr_t16'])} / {_f(r['delta_psnr_t32'])} dB, "
                      f"{_f(r.get('onnx_frames_per_s'), 1)} frames/s" for r in rows)
    return f"""
## Sampling settings
Chosen with `python bench/maskgit_sweep.py --data {sweep['data']} --episodes {sweep['episodes']} --horizon {sweep['horizon']}`
(episodes rendered with their own seed, not the held-out set above; the full table is in
`bench/README.md`). A setting's margin is its weakest step over t = 1..{sweep['horizon']} of: the
rollout driven by the {sweep['rows'][0]['driven_by']} minus the still frame, minus random codes, and the
moving-region gain. Best first:

{lines}
"""


def curve_section(curve: dict | None) -> str:
    if curve is None:
        return ""
    return f"""
## Command map: quality against labelled episodes
The shipped `command_map.json` is fitted on {curve['shipped_episodes']} labelled episodes of `{curve['labelled']}` (rendered
with its own seed; their frames are labelled by the frozen LAM, their `world_vector` is the command).
Agreement is on {curve['heldout_labelled_episodes']} further labelled episodes; the PSNRs are of the held-out rollouts
above driven by the recorded commands through each map.

{curve_table(curve)}
"""


def _data_phrase(data: dict) -> str:
    bigger = f", the target ball drawn {data['target_scale']:g}x" if data.get("target_scale", 1.0) != 1.0 else ""
    return (f"dm_control `{data['scene']}`, {data['episodes']} episodes x {data['steps']} steps at {data['size']}, "
            f"`{data['policy']}` policy, seed {data['seed']}{bigger}")


def write_card(out: Path, ev: EvalResult, pr: ProbeResult, data: dict, args: argparse.Namespace) -> str:
    genie = load_checkpoint(out)
    mixed = "".join(f"; with {_data_phrase(d)}" for d in args.also_data)
    n = genie.parameter_counts()
    cfg = genie.cfg
    usage = " ".join(f"{u:.2f}" for u in pr.code_usage)
    return f"""# Model card: genie_robotics `{cfg.name}` on rendered MuJoCo robot-arm video

- **What**: the full Genie stack (video tokenizer, latent action model, MaskGIT dynamics), preset
  `{cfg.name}`: {n['total']:,} parameters (tokenizer {n['tokenizer']:,}, LAM {n['lam']:,}, dynamics
  {n['dynamics']:,}); {cfg.height}x{cfg.width} frames, {cfg.num_actions} latent actions, context {cfg.frames} frames at {cfg.fps} FPS.
- **Data** (`data.json`): {_data_phrase(data)}{mixed}. The true actions are stored in the
  dataset for probing; training never read them.
- **Trained**: on CPU (2 cores), DeepSpeed CPU accelerator, fp32, in three resumable phases
  (tokenizer, LAM, dynamics with the LAM frozen), {args.train_minutes} minutes in all. Exact commands:

```
{args.command.strip()}
```

- **Sampling defaults stored in the checkpoint**: {sampling_phrase(cfg.dynamics.maskgit_steps, cfg.dynamics.temperature,
  cfg.dynamics.unmasking)} ({args.sampling_note}).

## Held-out results
{ev.clips} episodes rendered with seed {args.heldout_seed} (training used {", ".join(str(d["seed"]) for d in [data, *args.also_data])}); one clip of
{ev.horizon + 1} frames from the start of each; {ev.horizon}-step rollouts from the first frame,
{sampling_phrase(ev.maskgit_steps, ev.temperature, ev.unmasking)}, driven three ways: by the robot's recorded
commands (`action/world_vector` of each step) through the command map (`command_map.json`), by the
latent actions the LAM infers from the true video, and by uniformly random latent actions. "Still
frame" holds the prompt; "moving" scores only the pixels the ground truth changes by more than
{ev.quality.moving_threshold}/255 from the prompt. Every PSNR is of the squared error pooled over the clips at t.

{rollout_table(ev)}

![32 steps: ground truth (upper row of each pair) and the commands-driven rollout below it](rollouts_32.png)

`rollouts_32.png`: {PICTURE_EPISODES} held-out episodes, every frame t = 0..{ev.horizon}; in each pair the
ground truth above, the rollout driven by its recorded commands below.

| metric | value |
|---|---|
| tokenizer PSNR / SSIM | {ev.tokenizer_psnr:.2f} dB / {ev.tokenizer_ssim:.3f} |
| ΔtPSNR (LAM codes − random codes), t = 4 / 16 / 32, temperature {ev.temperature:g} | {_f(ev.quality.delta_psnr_t4)} / {_f(ev.quality.delta_psnr_t16)} / {_f(ev.quality.delta_psnr_t32)} dB |
| ΔtPSNR, t = 4, temperature 2 (paper) | {ev.delta_psnr_t4_temp2:.2f} dB |
| {HOLD_STEPS} zero commands from the prompt: last frame vs the true prompt | {_f(ev.zero_command_psnr_t8)} dB |
| NMI(LAM codes, true {pr.action_target} clusters) | {_f(pr.nmi, 3)} |
| NMI(LAM codes, true heading) | {_f(pr.nmi_heading, 3)} |
| linear probe (held-out episodes) | accuracy {_f(pr.linear_probe_accuracy, 3)} (chance {_f(pr.linear_probe_chance, 3)}), R² {_f(pr.linear_probe_r2, 3)} |
| LAM code usage ({pr.transitions} transitions) | {usage} |

For scale: the paper's 2.5B robotics model reports ΔtPSNR 2.07 (t = 4, pixel-input LAM) on RT-1.
{curve_section(args.curve)}
Reports beside this card: `eval.json` (every number above and more), `probe/` (probe.json,
README.md, plots, the start-frame x action rollout grid). Measured on {datetime.date.today().isoformat()}, CPU:

```
{args.report_commands.strip()}
```
{sweep_section(args.sweep)}"""


def _render_command(dataset: Path) -> str:
    """The `data render` command that made a rendered dataset (from its data.json)."""
    r = RenderSettings.load(dataset / RENDER_SETTINGS_FILE)
    bigger = f" --target-scale {r.target_scale:g}" if r.target_scale != 1.0 else ""
    return (f"genie-robotics data render --out {dataset} --episodes {r.episodes} --steps {r.steps} --size {r.size} "
            f"--scene {r.scene} --policy {r.policy} --seed {r.seed}{bigger}\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("export", type=Path, help="RUN_DIR/export after the dynamics phase")
    p.add_argument("--train-data", type=Path, required=True, help="the rendered training dataset (its data.json is kept)")
    p.add_argument("--also-trained-on", type=Path, nargs="*", default=[],
                   help="further rendered datasets mixed into training (named on the card)")
    p.add_argument("--heldout", type=Path, required=True, help="a dataset rendered with a seed training never used")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--command", required=True, help="the exact commands that produced the export")
    p.add_argument("--train-minutes", type=int, required=True, help="wall-clock training time of all phases")
    p.add_argument("--temperature", type=float, help="MaskGIT temperature to store as the checkpoint's default")
    p.add_argument("--maskgit-steps", type=int, help="MaskGIT steps to store as the checkpoint's default")
    p.add_argument("--unmasking", choices=["confidence", "random"], help="MaskGIT unmasking order to store as the default")
    p.add_argument("--sampling-note", default="measured best on held-out episodes", help="why those sampling settings")
    p.add_argument("--episodes", type=int, default=32)
    p.add_argument("--maskgit-sweep", type=Path, help="bench/maskgit_sweep.py's JSON: the sampling settings measured")
    p.add_argument("--labelled", type=Path, help="labelled RLDS episodes (action/world_vector) to fit the command map on")
    p.add_argument("--command-map-episodes", type=int, default=20, help="labelled episodes the shipped map is fitted on")
    p.add_argument("--curve", type=int, nargs="+", default=[5, 20, 100], help="labelled-episode counts of the map's curve")
    p.add_argument("--horizon", type=int, default=32, help="generated frames per held-out rollout")
    args = p.parse_args()
    args.sweep = json.loads(args.maskgit_sweep.read_text()) if args.maskgit_sweep else None

    data = dataclasses.asdict(RenderSettings.load(args.train_data / RENDER_SETTINGS_FILE))
    args.also_data = [dataclasses.asdict(RenderSettings.load(d / RENDER_SETTINGS_FILE)) for d in args.also_trained_on]
    heldout = RenderSettings.load(args.heldout / RENDER_SETTINGS_FILE)
    if heldout.seed in [data["seed"]] + [d["seed"] for d in args.also_data]:
        raise GenieError(f"{args.heldout} was rendered with a training seed ({heldout.seed}): not held out")
    args.heldout_seed = heldout.seed
    genie = load_checkpoint(args.export)
    if args.temperature is not None:
        genie.cfg.dynamics.temperature = args.temperature
    if args.maskgit_steps is not None:
        genie.cfg.dynamics.maskgit_steps = args.maskgit_steps
    if args.unmasking is not None:
        genie.cfg.dynamics.unmasking = args.unmasking
    args.out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(genie, args.out)
    shutil.copyfile(args.train_data / RENDER_SETTINGS_FILE, args.out / RENDER_SETTINGS_FILE)
    (args.out / "metrics.json").unlink(missing_ok=True)  # the report of an earlier card format

    (args.out / COMMAND_MAP_FILE).unlink(missing_ok=True)
    if args.labelled is not None:
        labelled = label_commands(genie, args.labelled, args.command_map_episodes + HELDOUT_LABELLED, progress=False)
        fit_from_labels(genie, labelled, args.command_map_episodes, labelled.after(args.command_map_episodes)).save(args.out)
    opts = EvalOptions(model=args.out, data=[str(args.heldout)], episodes=args.episodes, horizon=args.horizon)
    ev, clips, _, driven = evaluate(opts, return_rollouts=True)
    atomic_write_text(args.out / "eval.json", ev.to_json())
    (args.out / "rollouts_32.png").unlink(missing_ok=True)
    counts, args.curve = args.curve, None  # the curve's labelled-episode counts; then the curve itself
    if driven is not None:
        rollout_picture(clips, driven, args.out / "rollouts_32.png")
        held = held_out_clips(genie.cfg, opts, with_commands=True)
        args.curve = command_map_curve(load_checkpoint(args.out), args.labelled, held.frames_BTHWC, held.commands_BTF,
                                       counts, dataclasses.replace(opts, maskgit_steps=ev.maskgit_steps),
                                       ev.temperature)
        args.curve["shipped_episodes"] = args.command_map_episodes
        atomic_write_text(args.out / "command_map_curve.json", json.dumps(args.curve, indent=2) + "\n")
    pr = probe(ProbeOptions(model=args.out, data=args.heldout, out=args.out / "probe", episodes=args.episodes, overwrite=True))
    args.report_commands = (
        _render_command(args.heldout)
        + (_render_command(args.labelled) + f"genie-robotics fit-command-map {args.out} --data {args.labelled} "
           f"--episodes {args.command_map_episodes} --heldout-episodes {HELDOUT_LABELLED}\n" if args.labelled else "")
        + f"genie-robotics eval {args.out} --data {args.heldout} --episodes {args.episodes} --horizon {args.horizon} "
        f"--json {args.out / 'eval.json'}\n"
        f"genie-robotics probe {args.out} --data {args.heldout} --episodes {args.episodes} --out {args.out / 'probe'} --overwrite")
    atomic_write_text(args.out / "MODEL_CARD.md", write_card(args.out, ev, pr, data, args))
    print(f"wrote {args.out}: model, data.json, command_map.json, eval.json, command_map_curve.json, rollouts_32.png, "
          f"probe/, MODEL_CARD.md")


if __name__ == "__main__":
    try:
        main()
    except GenieError as exc:
        raise SystemExit(f"model_card: error: {exc}") from None
