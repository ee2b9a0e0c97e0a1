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

from genie_robotics.cli.messages import sampling_phrase

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
    """bench/maskgit_sweep.py's rows: quality over the horizon and ONNX Runtime speed per sampling setting."""
    r = sweep["recommended"]
    driven = sweep["rows"][0]["driven_by"]
    lines = [f"`python bench/maskgit_sweep.py --data {sweep['data']} --episodes {sweep['episodes']} --horizon {sweep['horizon']}` "
             f"(rollouts driven by the {driven}; margins: the weakest step t = 1…{sweep['horizon']}; frames/s: ONNX "
             f"Runtime, batch 1, full context). Recommended (the largest weakest margin, fewer steps within "
             f"{sweep['tolerance_db']:g} dB): {r['maskgit_steps']} step(s), temperature {r['temperature']:g}, "
             f"{r['unmasking']} unmasking.",
             "", f"| MaskGIT steps | temperature | unmasking | {driven} − still, weakest (dB) | − random codes, weakest (dB) "
                 "| moving-region gain, weakest (dB) | ΔtPSNR t = 4 / 16 / 32 (dB) | frames/s |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['maskgit_steps']} | {r['temperature']:g} | {'–' if r['maskgit_steps'] == 1 else r['unmasking']} | "
              f"{r['driven_minus_still_min']:.2f} | {r['driven_minus_random_min']:.2f} | {r['driven_moving_gain_min']:.2f} | "
              f"{_f(r['delta_psnr_t4'])} / {_f(r['delta_psnr_t16'])} / {_f(r['delta_psnr_t32'])} | "
              f"{_f(r.get('onnx_frames_per_s'))} |" for r in sweep["rows"]]
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
            f"checkpoint's defaults ({sampling_phrase(steps, ev['temperature'], ev.get('unmasking', 'confidence'))}):",
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


def node_memory(result: dict) -> str:
    """bench/node_memory.py's rows: peak resident memory and start-up against the number of worlds."""
    gb = 1e9
    lines = [f"Model {result['model']}, {result['cores']} CPU core(s); step: the mean of {result['steps']} steps after the "
             "first. Memory in GB; "
             "\"caches\" is what the worlds' temporal caches need, \"estimate\" what the node and `generate` "
             "check before allocating. \"ready\" is load + warm-up + reset, when the node can publish; "
             "\"first / step\" near 1 means the warm-up left the first real step nothing to prepare. "
             "\"per call\": worlds per model call; \"one call / chunks\": a step of the whole batch in one call "
             "over the chunked step, same process. \"fresh GB/s\": how fast this machine handed the process "
             "new memory, the floor under a reset that writes every world's caches once.", "",
             "| backend | worlds | per call | ready (s) | warm-up (s) | reset (s) | step (s) | first / step "
             "| one call / chunks | peak RSS | caches | estimate | RSS / (weights + caches) | fresh GB/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def cells(r: dict) -> str:
        if "error" in r:
            return f"failed: {' '.join(r['error'])} |" + " |" * 12
        per_call = min(r["worlds"], r.get("world_chunk") or r["worlds"])
        one_call = f"{r['one_call_over_chunked_step']:.2f}" if "one_call_over_chunked_step" in r else "–"
        return (f"{per_call} | {r['ready_s']:.2f} | {r['warm_up_s']:.2f} | {r['reset_s']:.2f} | {r['step_s']:.2f} | "
                f"{r['first_over_steady_step']:.2f} | {one_call} | {r['peak_rss_bytes'] / gb:.2f} | "
                f"{r['need_caches_bytes'] / gb:.2f} | {r['need_estimate_bytes'] / gb:.2f} | "
                f"{r['rss_over_model_and_caches']:.2f} | {r['fresh_memory_gb_per_s']:.2f} |")

    lines += [f"| {r['backend']} | {r['worlds']} | {cells(r)}" for r in result["rows"]]
    return "\n".join(lines) + "\n"


def _stamp(result: dict) -> str:
    return f"checkpoint `{result['checkpoint']}` (weights SHA-256 `{result['checkpoint_sha256'][:16]}…`)"


def policy_pretraining(result: dict) -> str:
    """examples/policy_pretraining.py's rows: success of each policy, mean and spread over the draws."""
    names = ("random", "expert", "bc_200", "bc_oracle_all", "latent_policy_200", "synthetic_pretrain_200")
    lines = [f"{result['score']}; measured on {_stamp(result)} in {result['seconds'] / 60:.0f} min.", "",
             "| policy | success (mean) | spread (std over draws) | draws |", "|---|---|---|---|"]
    lines += [f"| `{n}` | {result[n]:.3f} | {result['spread'][n]:.3f} | "
              f"{' / '.join(f'{v:.2f}' for v in result['draws'][n])} |" for n in names]
    return "\n".join(lines) + "\n"


def policy_eval(result: dict) -> str:
    """`genie-robotics evaluate-policy --ladder`'s rows: each policy's success in both worlds."""
    lines = [f"{len(result['policies'])} policies, {result['episodes']} episodes of {result['steps']} steps each, from "
             f"the same start frames; measured on {_stamp(result)} in {result['seconds'] / 60:.0f} min. Success is read "
             f"by the detector, the gripper in the last frame against the target in the start frame (held-out "
             f"error {result['detector_error_px']:.2f} px, success radius {result['success_radius_px']:.1f} px); the last "
             "column is MuJoCo's state, for reference.", "",
             "| policy | success in MuJoCo | success in the learned simulator | MuJoCo, from its state |",
             "|---|---|---|---|"]
    lines += [f"| {p['name']} | {p['mujoco_success']:.2f} | {p['simulator_success']:.2f} | "
              f"{p['mujoco_true_success']:.2f} |" for p in result["policies"]]
    lines += ["", f"Across the ladder: Spearman {result['spearman']:.3f}, Pearson {result['pearson']:.3f}."]
    return "\n".join(lines) + "\n"


SHIPPED = "genie_robotics/checkpoints/tiny"
TABLES: dict[str, tuple[tuple[str, ...], Callable[..., str]]] = {
    "gpu_check": (("bench/results/gpu_check.json",), gpu_check),
    "maskgit_sweep": (("bench/results/maskgit_sweep.json",), maskgit_sweep),
    "shipped_model": ((f"{SHIPPED}/eval.json", f"{SHIPPED}/probe/probe.json"), shipped_model),
    "node_memory": (("bench/results/node_memory.json",), node_memory),
    "policy_pretraining": (("examples/results/policy_pretraining.json",), policy_pretraining),
    "policy_eval": (("examples/results/policy_eval.json",), policy_eval),
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
