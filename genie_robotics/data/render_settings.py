"""How a rendered dataset is made: one `RenderSettings` for the `data render` flags, the dataset's
`data.json` and the renderer.

A checkpoint trained on rendered video keeps a copy of its `data.json`, so its prompts and
held-out sets can be remade and the ROS node knows the camera. Nothing here imports MuJoCo.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from genie_robotics.core.errors import GenieError
from genie_robotics.core.options import nonnegative_int, option, positive_float, positive_int

RENDER_SETTINGS_FILE = "data.json"
POLICIES = ("teleop", "torque")
CAMERA_ZOOM = {"torque": 0.75, "teleop": 0.55}  # narrows the fixed camera's field of view
MAX_RENDER_SIDE = 1024  # MuJoCo's offscreen buffer is sized for the largest frame we render
ADDED_LATER = ("target_scale",)  # keys a data.json written before them lacks; their defaults apply


@dataclass(frozen=True)
class Scene:
    domain: str
    task: str
    instruction: str
    camera_fovy_deg: float = 4.0  # vertical field of view of the domain's `fixed` camera (its XML)


SCENES = {
    "manipulator-ball": Scene("manipulator", "bring_ball", "bring the ball to the target"),
    "manipulator-peg": Scene("manipulator", "insert_peg", "insert the peg into the slot"),
}


def parse_size(text: str) -> str:
    """'HxW' with each side in [8, MAX_RENDER_SIDE], as 'HxW'."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like HEIGHTxWIDTH (e.g. 64x64), got {text!r}") from None
    if not (8 <= h <= MAX_RENDER_SIDE and 8 <= w <= MAX_RENDER_SIDE):
        raise argparse.ArgumentTypeError(f"each side of --size must be in [8, {MAX_RENDER_SIDE}], got {text}")
    return f"{h}x{w}"


@dataclass(frozen=True)
class RenderSettings:
    """The `data render` flags of the same names, in `data.json`'s key order."""

    scene: str = option("manipulator-ball", choices=sorted(SCENES), help="MuJoCo scene")
    size: str = option("64x64", parse=parse_size, help="HEIGHTxWIDTH of the frames (RT-1 is 256x320)")
    steps: int = option(32, parse=positive_int, help="frames per episode, at 10 FPS")
    policy: str = option("teleop", choices=POLICIES,
                         help="teleop: the gripper moves along one of 8 image-plane headings held 1-4 frames "
                              "(stores action/world_vector and action/heading); torque: smooth random joint "
                              "torques through the physics (stores action/joint_torque)")
    seed: int = option(0, parse=nonnegative_int, help="random seed of the scenes and the policy")
    episodes: int = option(64, parse=positive_int, help="episodes to render")
    target_scale: float = option(1.0, parse=positive_float,
                                 help="draw the target ball this many times its size (purely visual; 2 keeps it "
                                      "several pixels wide at 64x64)")

    @property
    def height_width(self) -> tuple[int, int]:
        h, w = self.size.lower().split("x")
        return int(h), int(w)

    @property
    def camera_fovy_deg(self) -> float:
        """Vertical field of view (degrees) of the camera these settings render with (the policy's
        zoom applied): what a ROS camera_info needs for its intrinsics."""
        return SCENES[self.scene].camera_fovy_deg * CAMERA_ZOOM[self.policy]

    def save(self, path: Path) -> None:
        from genie_robotics.core.atomic_files import atomic_write_text

        atomic_write_text(path, json.dumps(dataclasses.asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> RenderSettings:
        """The settings in a data.json; one clear error if it is missing or malformed."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            settings = cls(**{f.name: data.get(f.name, f.default) if f.name in ADDED_LATER else data[f.name]
                              for f in dataclasses.fields(cls)})
            settings.height_width  # noqa: B018 - raises on a malformed size
            if not all(isinstance(getattr(settings, k), int) for k in ("steps", "seed", "episodes")):
                raise ValueError("steps, seed and episodes must be integers")
            if not (isinstance(settings.target_scale, (int, float)) and settings.target_scale > 0):
                raise ValueError("target_scale must be a number > 0")
            return settings
        except FileNotFoundError:
            raise GenieError(f"{path} does not exist") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise GenieError(f"{path} is not a data.json of `data render` arguments: {exc}") from None
