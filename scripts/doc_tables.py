"""Tables of measured numbers in the docs, generated from the result files they report.

A generated table sits between `<!-- generated: NAME from FILE[, FILE] by scripts/doc_tables.py -->`
and `<!-- /generated -->` in a Markdown file; NAME picks the renderer and its result files in
`TABLES`, and the opening marker is rewritten to name them. `python scripts/doc_tables.py`
rewrites every such block from its files; `--check` rewrites nothing and exits 1 naming each
block that differs (tests/test_doc_tables.py runs it), so a table cannot drift from its files.
A measurement with no result file in the repository gets no table: the docs name the command
that makes it instead. Reads JSON only: no model, no package import.
"""
from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("README.md", "bench/README.md", "examples/README.md")
BLOCK = re.compile(r"<!-- generated: (?P<name>[\w-]+)(?P<sources>[^\n]*?) -->\n(?P<body>.*?)<!-- /generated -->", re.S)


def _f(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def gpu_check(result: dict) -> str:
    steps = sorted(result["frames_per_s"]["eager"], key=int)
    rows = [f"Measured on {result['gpu']} (torch {result['torch']}, {result['date']}), preset `{result['preset']}`, "
            f"batch {result['batch']}, context {result['context']} frames: `{result['command']}`.", "",
            "| MaskGIT steps | eager frames/s | compiled (CUDA graphs) frames/s |", "|---|---|---|"]
    for s in steps:
        compiled = result["frames_per_s"]["compiled"].get(s)
        failed = " (failed, see note)" if s in result.get("compiled_errors", {}) else ""
        rows.append(f"| {s} | {_f(result['frames_per_s']['eager'][s])} | {_f(compiled)}{failed} |")
    rows += ["", f"| training phase ({result['train_precision']}, batch {result['train_batch']} x {result['train_frames']} "
                 f"frames) | tokens/s | MFU |", "|---|---|---|"]
    for phase, mfu in result["mfu"].items():
        rows.append(f"| {phase} | {result['tokens_per_s'][phase]:,.0f} | {_f(100 * mfu if mfu is not None else None)} % |")
    if result.get("note"):
        rows += ["", f"Note: {result['note']}"]
    return "\n".join(rows) + "\n"


def maskgit_sweep(sweep: dict) -> str:
    """bench/maskgit_sweep.py's rows: quality and ONNX Runtime speed per MaskGIT step count."""
    recommended = ", ".join(f"{steps} at temperature {t}" for t, steps in sweep.get("recommended_steps", {}).items())
    lines = [f"`python bench/maskgit_sweep.py --data {sweep['data']} --episodes {sweep['episodes']}` "
             f"(rollout PSNRs: the mean over t = 1…8; frames/s: ONNX Runtime, batch 1, full context). Recommended "
             f"(fewest steps within {sweep['tolerance_db']:g} dB of the most steps on both PSNRs): {recommended or '–'}.",
             "", "| MaskGIT steps | temperature | rollout PSNR (dB) | moving-region PSNR (dB) | ΔtPSNR t = 4 (dB) | "
                 "frames/s |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['maskgit_steps']} | {r['temperature']:g} | {r['rollout_psnr']:.2f} | {r['moving_psnr']:.2f} | "
              f"{r['delta_psnr_t4']:.2f} | {_f(r.get('onnx_frames_per_s'))} |" for r in sweep["rows"]]
    return "\n".join(lines) + "\n"


def shipped_model(ev: dict, pr: dict) -> str:
    """The shipped checkpoint's held-out figures (its eval.json and probe.json, as its model card reports them)."""
    steps = ev["maskgit_steps"]
    at = [t for t in (1, 4, 8, 16, 24, 32) if t <= len(ev["rollout_psnr"])]

    def gains(driven: list | None, still: list) -> str:
        if driven is None:
            return "–"
        return ", ".join(_f(None if driven[t - 1] is None or still[t - 1] is None else driven[t - 1] - still[t - 1])
                         for t in at)

    ts = ", ".join(map(str, at))
    heading = f" / {pr['nmi_heading']:.2f}" if pr.get("nmi_heading") is not None else ""
    commands = ev.get("commands_psnr")
    rows = [f"{ev['clips']} held-out episodes, {ev['horizon']}-step rollouts from their first frames at the "
            f"checkpoint's defaults ({steps} MaskGIT step{'' if steps == 1 else 's'}, temperature {ev['temperature']:g}):",
            "", "| measure | value |", "|---|---|"]
    if commands is not None:
        rows += [f"| driven by the recorded commands (command map) − still frame (prompt held), t = {ts} | "
                 f"{gains(commands, ev['baseline_copy_psnr'])} dB |",
                 f"| the same on the moving pixels, t = {ts} | "
                 f"{gains(ev.get('commands_moving_psnr'), ev['baseline_copy_moving_psnr'])} dB |",
                 f"| driven by the recorded commands − uniformly random latent actions, t = {ts} | "
                 f"{gains(commands, ev['random_psnr'])} dB |"]
    rows += [f"| driven by the LAM's actions − still frame, t = {ts} | {gains(ev['rollout_psnr'], ev['baseline_copy_psnr'])} dB |",
             f"| ΔtPSNR (LAM − random actions) t = 4 / 16 / 32; t = 4 at the paper's temperature 2 | "
             f"{_f(ev['delta_psnr_t4'])} / {_f(ev.get('delta_psnr_t16'))} / {_f(ev.get('delta_psnr_t32'))} dB; "
             f"{_f(ev['delta_psnr_t4_temp2'])} dB |"]
    if ev.get("zero_command_psnr_t8") is not None:
        rows.append(f"| 8 zero commands from the prompt: last frame vs the prompt | {_f(ev['zero_command_psnr_t8'])} dB |")
    rows += [f"| tokenizer PSNR / SSIM | {ev['tokenizer_psnr']:.1f} dB / {ev['tokenizer_ssim']:.3f} |",
             f"| NMI(codes, true `{pr['action_target']}` clusters){' / (codes, true heading)' if heading else ''} | "
             f"{_f(pr['nmi'], 2)}{heading} |"]
    return "\n".join(rows) + "\n"


SHIPPED = "genie_robotics/checkpoints/tiny"
TABLES: dict[str, tuple[tuple[str, ...], Callable[..., str]]] = {
    "gpu_check": (("bench/results/gpu_check.json",), gpu_check),
    "maskgit_sweep": (("bench/results/maskgit_sweep.json",), maskgit_sweep),
    "shipped_model": ((f"{SHIPPED}/eval.json", f"{SHIPPED}/probe/probe.json"), shipped_model),
}


def render(name: str) -> str:
    """The whole block of table `name`: its opening marker (naming its files) and its body."""
    if name not in TABLES:
        raise SystemExit(f"unknown generated table {name!r}; known: {', '.join(TABLES)}")
    paths, renderer = TABLES[name]
    body = renderer(*(json.loads((ROOT / p).read_text()) for p in paths))
    return f"<!-- generated: {name} from {', '.join(paths)} by scripts/doc_tables.py -->\n{body}<!-- /generated -->"


def refresh(text: str) -> str:
    return BLOCK.sub(lambda m: render(m.group("name")), text)


def main(argv: list[str]) -> int:
    stale = []
    for doc in DOCS:
        path = ROOT / doc
        if not path.is_file():
            continue
        text = path.read_text()
        new = refresh(text)
        if new != text:
            stale.append(doc)
            if "--check" not in argv:
                path.write_text(new)
    if stale and "--check" in argv:
        print(f"generated tables differ from their result files in: {', '.join(stale)} (run python scripts/doc_tables.py)")
        return 1
    print(("rewrote " + ", ".join(stale)) if stale else "every generated table matches its result files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
