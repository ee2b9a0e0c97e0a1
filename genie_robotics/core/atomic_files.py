"""Files written atomically: readers see the old contents or the new, never a torn file.

Used for checkpoints, configs, reports and `latest` pointers alike (no other module needed,
so anything may import it without an import circle).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_replace(path: Path, write) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, fsync it, then rename it over `path`:
    a kill or a full disk part-way leaves the old file (or none) and no temporary behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_replace(Path(path), lambda tmp: Path(tmp).write_text(text))
