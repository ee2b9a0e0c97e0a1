"""glibc malloc settings for step-by-step inference: keep freed memory instead of handing it back.

A rollout allocates and frees the same few-megabyte buffers (attention scores, logits, cache
copies) hundreds of times per frame. With glibc's defaults the dynamic mmap threshold and heap
trimming return those blocks to the kernel after each use, so the next step pays page faults
again: on 2 CPU cores about as much time went to the kernel as to the model. Fixing the mmap
threshold at 32 MiB and trimming only above 1 GiB keeps the memory in the process (peak RSS is
unchanged; it is just not released between steps). `bench/allocator.py` measures the effect.
Set GENIE_MALLOC_TUNING=0 to leave the allocator alone.
"""
from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters from glibc's malloc.h
MMAP_THRESHOLD = 32 << 20  # glibc's maximum on 64-bit; larger blocks are still mmap'ed
TRIM_THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Apply the settings to this process; False where they do not apply (not glibc, opted out)."""
    if os.environ.get("GENIE_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # musl and other libcs have no mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
