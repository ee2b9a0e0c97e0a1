"""Tables of measured numbers in the docs, generated from the result files they report.

A generated table sits between `<!-- generated: NAME -->` and `<!-- /generated -->` in a
Markdown file; NAME picks the renderer and the result file below. `python scripts/doc_tables.py`
rewrites every such block from its file; `--check` rewrites nothing and exits 1 naming each
block that differs (tests/test_doc_tables.py runs it), so a table cannot drift from its file.
"""
from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("README.md", "bench/README.md", "examples/README.md")
BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /generated -->)", re.S)


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


TABLES: dict[str, tuple[str, Callable[[dict], str]]] = {
    "gpu_check": ("bench/results/gpu_check.json", gpu_check),
}


def render(name: str) -> str:
    if name not in TABLES:
        raise SystemExit(f"unknown generated table {name!r}; known: {', '.join(TABLES)}")
    path, renderer = TABLES[name]
    return renderer(json.loads((ROOT / path).read_text()))


def refresh(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + render(m.group("name")) + m.group(4), text)


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
    print(("rewrote " + ", ".join(stale)) if stale else "every generated table matches its result file")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
