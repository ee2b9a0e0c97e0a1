"""What ships inside the package: the tiny checkpoint every default points at."""
from __future__ import annotations

from pathlib import Path

SHIPPED_CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "tiny"
