"""Action scripts: a rollout written as text, '0,0,3,r,5' (latent actions, r = back to the prompt).

`play --actions` and `generate --script` read them; both parse here.
"""
from __future__ import annotations

from genie_robotics.core.errors import GenieError


def parse_script(text: str) -> list[int | str]:
    """'0,0,3,r,5' -> [0, 0, 3, 'r', 5] (checked against the model's action count by `check_script`)."""
    script: list[int | str] = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        if item.lower() == "r":
            script.append("r")
        elif item.isdigit():
            script.append(int(item))
        else:
            raise GenieError(f"action script item {item!r} is not a latent action (0, 1, ...) or r (reset)")
    if not script:
        raise GenieError("the action script is empty")
    return script


def check_script(script: list[int | str], num_actions: int) -> None:
    """GenieError naming the first item that is not a latent action of this model."""
    bad = next((item for item in script if isinstance(item, int) and not 0 <= item < num_actions), None)
    if bad is not None:
        raise GenieError(f"action script item {bad} is not a latent action of this model (0-{num_actions - 1})")
