"""MaskGIT sampling settings: a checkpoint stores its measured best, and every override is optional.

"Unset means the checkpoint's value" is resolved here and nowhere else (the commands' flags, the
ROS node's parameters, `WorldModel`), so None, never 0 or "", is what "unset" means.
"""
from __future__ import annotations

from dataclasses import dataclass

from genie_robotics.core.config import UNMASKING_ORDERS, GenieConfig
from genie_robotics.core.errors import GenieError


@dataclass(frozen=True)
class Sampling:
    """MaskGIT steps per frame, the sampling temperature, the masking schedule and the unmasking order."""

    steps: int
    temperature: float
    schedule: str
    unmasking: str = "confidence"

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise GenieError(f"maskgit_steps must be >= 1, got {self.steps}")
        if self.unmasking not in UNMASKING_ORDERS:
            raise GenieError(f"unmasking must be one of {', '.join(UNMASKING_ORDERS)}, got {self.unmasking!r}")

    @classmethod
    def resolve(cls, checkpoint_cfg: GenieConfig, steps: int | None = None, temperature: float | None = None,
                schedule: str | None = None, unmasking: str | None = None) -> Sampling:
        """The overrides that are given, the checkpoint's values for the rest."""
        stored = checkpoint_cfg.dynamics
        return cls(stored.maskgit_steps if steps is None else steps,
                   stored.temperature if temperature is None else temperature,
                   stored.schedule if schedule is None else schedule,
                   stored.unmasking if unmasking is None else unmasking)

    def override(self, checkpoint_cfg: GenieConfig, **given) -> Sampling:
        """These settings with the given ones replaced (None: back to the checkpoint's value)."""
        current = {"steps": self.steps, "temperature": self.temperature, "schedule": self.schedule,
                   "unmasking": self.unmasking}
        return Sampling.resolve(checkpoint_cfg, **{**current, **given})
