"""Wording shared by the commands' messages, the ROS node's log and the model card."""
from __future__ import annotations


def steps_phrase(steps: int) -> str:
    """'1 MaskGIT step' / '25 MaskGIT steps'."""
    return f"{steps} MaskGIT step" + ("" if steps == 1 else "s")


def sampling_phrase(steps: int, temperature: float, unmasking: str) -> str:
    """'2 MaskGIT steps in random order, temperature 0.5' (one step keeps every sample: no order)."""
    order = "" if steps == 1 else " in random order" if unmasking == "random" else " by confidence"
    return f"{steps_phrase(steps)}{order}, temperature {temperature:g}"
