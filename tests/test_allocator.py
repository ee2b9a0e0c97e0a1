"""keep_freed_memory changes what glibc does with freed blocks (a behaviour check, no timing)."""
import os
import subprocess
import sys

CHILD = """
import os, sys
from genie_robotics.core.allocator import keep_freed_memory
print(keep_freed_memory())
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
block = b"\\x01" * (16 << 20)  # 16 MiB, touched: above glibc's default mmap threshold, below the tuned one
before_free = rss_mb()
del block
print(before_free - rss_mb())
"""


def _run(tuning: str) -> tuple[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True,
                         env={**os.environ, "GENIE_MALLOC_TUNING": tuning}).stdout.split()
    return out[0], float(out[1])


def test_tuned_process_keeps_freed_blocks_and_opt_out_does_not():
    applied, released_mb = _run("1")
    assert applied == "True" and released_mb < 4  # the 16 MiB stays in the process for the next step
    applied, released_mb = _run("0")
    assert applied == "False" and released_mb > 12  # glibc's default: unmapped at once
