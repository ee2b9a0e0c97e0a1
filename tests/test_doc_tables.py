"""Every table of measured numbers in the docs is generated from its result file (scripts/doc_tables.py)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_tables_match_their_result_files():
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "doc_tables.py"), "--check"], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_table_that_drifted_from_its_file_is_found(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import doc_tables
    finally:
        sys.path.pop(0)
    text = (ROOT / "bench" / "README.md").read_text()
    block = doc_tables.BLOCK.search(text)
    assert block is not None and block.group("name") == "gpu_check"
    start = block.start("body") + block.group("body").index("| 1 |") + 6  # the first measured number's first digit
    digit = text[start]
    drifted = text[:start] + str((int(digit) + 1) % 10) + text[start + 1:]
    assert doc_tables.refresh(drifted) == text
