"""Every table of measured numbers in the docs is generated from its result files (scripts/doc_tables.py)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
try:
    import doc_tables
finally:
    sys.path.pop(0)


def _blocks():
    return [(doc, m) for doc in doc_tables.DOCS for m in doc_tables.BLOCK.finditer((ROOT / doc).read_text())]


def test_generated_tables_match_their_result_files():
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "doc_tables.py"), "--check"], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_renderer_has_a_table_and_every_marker_names_its_files():
    names = [m.group("name") for _, m in _blocks()]
    assert set(names) == set(doc_tables.TABLES)  # each table somewhere (a doc may repeat one), none unknown
    for _, m in _blocks():
        paths, _ = doc_tables.TABLES[m.group("name")]
        assert m.group("sources") == f" from {', '.join(paths)} by scripts/doc_tables.py", m.group(0)[:120]
        assert all((ROOT / p).is_file() for p in paths)


@pytest.mark.parametrize("name", sorted(doc_tables.TABLES))
def test_a_table_that_drifted_from_its_file_is_found(name):
    doc, block = next((doc, m) for doc, m in _blocks() if m.group("name") == name)
    text = (ROOT / doc).read_text()
    row = re.search(r"^\|[^\n]*?(\d)\.\d", block.group("body"), re.M)  # the first number with a decimal in a row
    assert row is not None, name
    at = block.start("body") + row.start(1)
    drifted = text[:at] + str((int(text[at]) + 1) % 10) + text[at + 1:]
    assert doc_tables.refresh(drifted) == text


def test_no_hand_written_table_row_holds_a_measured_number():
    """Outside generated blocks a table row has no decimal number (parameter counts like 9.0M excepted:
    computed from the presets by `genie-robotics info`, not measured)."""
    for doc in doc_tables.DOCS:
        rest = doc_tables.BLOCK.sub("", (ROOT / doc).read_text())
        rows = [line for line in rest.splitlines() if line.lstrip().startswith("|")]
        measured = [row for row in rows if re.search(r"(?<![\w.-])\d+\.\d+(?![0-9MB])", row)]
        assert not measured, f"{doc}: {measured} (generate it from a result file: scripts/doc_tables.py)"
