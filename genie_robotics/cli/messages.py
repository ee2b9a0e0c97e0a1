"""Wording shared by the commands' messages, the ROS node's log and the model card."""
from __future__ import annotations


def steps_phrase(steps: int) -> str:
    """'1 MaskGIT step' / '25 MaskGIT steps'."""
    return f"{steps} MaskGIT step" + ("" if steps == 1 else "s")
