"""`genie-robotics eval`'s output: the result as a table on stdout, and as JSON with `--json`."""
from __future__ import annotations

from pathlib import Path

from genie_robotics.analysis.evaluation import DELTA_STEPS, HOLD_STEPS, EvalResult
from genie_robotics.cli.messages import steps_phrase


def format_table(result: EvalResult) -> str:
    """The eval result as a readable table."""
    q = result.quality
    lines = [f"eval of {result.model} on {result.clips} held-out clips ({', '.join(result.data)}, "
             f"{result.part}; {steps_phrase(result.maskgit_steps)}, temperature {result.temperature})",
             f"  {'tokenizer PSNR':<28}{result.tokenizer_psnr:>9.2f} dB",
             f"  {'tokenizer SSIM':<28}{result.tokenizer_ssim:>9.4f}",
             f"  {'PSNR t=4, LAM actions':<28}{q.psnr_inferred_t4:>9.2f} dB",
             f"  {'PSNR t=4, random actions':<28}{q.psnr_random_t4:>9.2f} dB"]
    for t in DELTA_STEPS:
        if (delta := q.delta_psnr_at(t)) is not None:
            lines.append(f"  {f'ΔtPSNR t={t}':<28}{delta:>9.2f} dB")
    lines.append(f"  {'ΔtPSNR t=4, temperature 2':<28}{result.delta_psnr_t4_temp2:>9.2f} dB")
    if result.zero_command_psnr_t8 is not None:
        lines.append(f"  {f'{HOLD_STEPS} zero commands vs prompt':<28}{result.zero_command_psnr_t8:>9.2f} dB")
    if result.fvd is not None:
        lines.append(f"  {'FVD':<28}{result.fvd:>9.1f}")
    commands = q.commands_psnr is not None
    lines += ["  PSNR (dB) by step t, driven by the LAM's codes (lam), uniformly random codes (random)"
              + (", the recorded commands through the command map (cmd)" if commands else "")
              + f" and the still frame (the prompt held); 'mov': pixels the ground truth changes by more than "
              f"{q.moving_threshold}/255 from the prompt",
              f"  {'t':>4}{'lam':>8}{'random':>8}" + (f"{'cmd':>8}" if commands else "") + f"{'still':>8}{'lam mov':>9}"
              + (f"{'cmd mov':>9}" if commands else "") + f"{'still mov':>10}{'mov px':>8}"]

    def cell(v, width):
        return f"{v:>{width}.2f}" if v is not None else f"{'n/a':>{width}}"

    for i in range(len(q.rollout_psnr)):
        row = f"  {i + 1:>4}" + cell(q.rollout_psnr[i], 8) + cell(q.random_psnr[i], 8)
        row += cell(q.commands_psnr[i], 8) if q.commands_psnr is not None else ""
        row += cell(q.baseline_copy_psnr[i], 8) + cell(q.moving_psnr[i], 9)
        row += cell(q.commands_moving_psnr[i], 9) if q.commands_moving_psnr is not None else ""
        row += cell(q.baseline_copy_moving_psnr[i], 10) + f"{q.moving_fraction[i]:>8.1%}"
        lines.append(row)
    return "\n".join(lines)


def write_json(result: EvalResult, path: str | Path) -> Path:
    from genie_robotics.core.atomic_files import atomic_write_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, result.to_json())
    return path
