"""The training run directory: its layout, its lock, and reading it back safely.

A run directory is copied between machines and people like any checkpoint, so nothing in it is
trusted: DeepSpeed's checkpoint files are read with PyTorch's tensors-only unpickler, and a file
that holds anything else is refused by name. One trainer owns a run directory at a time.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import pickle
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import torch

from genie_robotics.core.atomic_files import atomic_write_text
from genie_robotics.core.errors import GenieError

LOCK_FILE = "train.lock"


@dataclass
class RunDir:
    root: Path
    stage: str

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def stage_dir(self) -> Path:
        return self.root / self.stage

    @property
    def checkpoints(self) -> Path:
        return self.stage_dir / "checkpoints"

    @property
    def metrics(self) -> Path:
        return self.stage_dir / "metrics.jsonl"

    def latest_tag(self) -> str | None:
        latest = self.checkpoints / "latest"
        if not latest.is_file():
            return None
        tag = latest.read_text().strip()
        return tag if (self.checkpoints / tag).is_dir() else None


def check_writable(root: Path) -> None:
    """GenieError unless `root` is (or can be made) a directory we can write files in.

    Tried for real (permission bits say little to root, or on a read-only mount)."""
    existing = root
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise GenieError(f"--out {root}: {existing} is a file, not a directory")
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as exc:
        raise GenieError(f"--out {root}: cannot write there ({describe_write_error(exc, existing)})") from None


def acquire_lock(root: Path) -> IO[str]:
    """Hold RUN_DIR/train.lock for as long as the returned file stays open.

    A second trainer on the same run directory gets a GenieError naming the holder's PID
    instead of interleaving checkpoints and metrics with the first.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
        handle = open(root / LOCK_FILE, "a+")
    except OSError as exc:
        raise GenieError(f"--out {root}: cannot write there ({describe_write_error(exc, root.parent)})") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise GenieError(f"{root} is in use by another trainer (PID {holder}); wait for it or choose another --out") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


@contextlib.contextmanager
def tensors_only_loading() -> Iterator[None]:
    """Within the block, every `torch.load` (DeepSpeed's checkpoint engine calls it with
    weights_only=False) uses the tensors-only unpickler; a file holding other objects is
    refused with a GenieError naming it, before anything in it runs."""
    original = torch.load

    def load(f, *args, **kwargs):
        kwargs["weights_only"] = True
        try:
            return original(f, *args, **kwargs)
        except pickle.UnpicklingError:
            raise GenieError(f"refusing to resume from {f}: it holds pickled objects other than tensors "
                             f"(a resume never runs code from a run directory)") from None
        except (RuntimeError, EOFError, OSError) as exc:
            raise GenieError(f"cannot read checkpoint file {f}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None

    torch.load = load
    try:
        yield
    finally:
        torch.load = original


def truncate_metrics(path: Path, step: int) -> None:
    """Drop metrics.jsonl lines logged after `step`, the checkpoint a run resumes from, so the
    resumed run does not log them twice."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except (json.JSONDecodeError, AttributeError):
            continue  # a line cut short by the kill that ended the last run
    atomic_write_text(path, "".join(f"{line}\n" for line in kept))


def describe_write_error(exc: BaseException, where: Path) -> str:
    """Why a checkpoint write failed, in words: a full disk says so (PyTorch's zip writer only
    reports 'unexpected pos ...')."""
    import shutil

    full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    full = full or "unexpected pos" in str(exc) or "failed writing" in str(exc)
    try:
        full = full or shutil.disk_usage(where).free < 64 * 2**20
    except OSError:
        pass
    if full:
        return "no space left (disk full or file size limit)"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
