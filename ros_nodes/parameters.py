"""The genie_sim node's parameters: one table read by the node, the launch file's tests and the docs.

Sampling settings default to "the checkpoint's value" (its config holds the measured best):
`maskgit_steps` 0 and a negative `temperature` mean exactly that.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Parameter:
    default: object
    description: str
    range: tuple[float, float] | None = None  # inclusive; floats and integers only
    read_only: bool = True  # False: `ros2 param set` changes it while the node runs


PARAMETERS = {
    "model_dir": Parameter("", "checkpoint (torch) or ONNX export directory; empty = the shipped tiny checkpoint"),
    "backend": Parameter("onnx", "onnx | torch | torch-compiled | auto (onnx for an export directory, torch for a checkpoint)"),
    "providers": Parameter([""], "ONNX Runtime providers; empty = TensorRT -> CUDA -> CPU, whatever is installed"),
    "prompt_image": Parameter("", "image (or folder / RLDS dataset) the world starts from; empty = a grey frame"),
    "mode": Parameter("on_action", "on_action: one frame per action message; timer: free-running at fps"),
    "fps": Parameter(10.0, "frames per second in timer mode", (0.1, 1000.0), read_only=False),
    "maskgit_steps": Parameter(0, "MaskGIT steps per frame; 0 = the checkpoint's", (0, 1000), read_only=False),
    "temperature": Parameter(-1.0, "MaskGIT sampling temperature; negative = the checkpoint's", (-1.0, 100.0),
                             read_only=False),
    "seed": Parameter(0, "seed of the sampler", (0, 2**31 - 1)),
    "frame_id": Parameter("genie_camera", "frame_id of camera/image and camera/camera_info"),
    "fov_deg": Parameter(0.0, "vertical field of view of camera_info's intrinsics, degrees; 0 = the camera the "
                              "checkpoint's training video was rendered with (its data.json)", (0.0, 179.0)),
    "sensor_qos": Parameter(False, "best-effort sensor-data QoS for the camera topics instead of reliable"),
    "command_frame": Parameter("genie_base", "frame_id a `cmd` TwistStamped must carry: x = image right, z = image up "
                                             "(the camera's image plane, as the training data's world_vector), metres/s"),
    "max_command_speed": Parameter(2.0, "`cmd` linear speeds above this (m/s) are refused as absurd", (0.01, 100.0)),
    "num_envs": Parameter(1, "independent worlds stepped as one batch; above 1 each has its topics under env_<i>/ "
                             "(on_action mode steps once every world has an action)", (1, 256)),
}


@dataclass(frozen=True)
class NodeParameters:
    """The node's parameters as read at start-up, one typed field per entry of PARAMETERS (same order)."""

    model_dir: str
    backend: str
    providers: list[str]
    prompt_image: str
    mode: str
    fps: float
    maskgit_steps: int
    temperature: float
    seed: int
    frame_id: str
    fov_deg: float
    sensor_qos: bool
    command_frame: str
    max_command_speed: float
    num_envs: int

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> NodeParameters:
        """From {name: value}, each value made the type of its default (a list stays a list)."""
        return cls(**{f.name: _typed(values[f.name], PARAMETERS[f.name].default) for f in fields(cls)})

    @classmethod
    def from_node(cls, node) -> NodeParameters:
        """From a node that has declared every entry of PARAMETERS (`node.get_parameter(name).value`)."""
        return cls.from_values({name: node.get_parameter(name).value for name in PARAMETERS})

    @property
    def sampling(self) -> dict:
        """WorldModel keyword arguments of the sampling parameters (None = the checkpoint's)."""
        return sampling_overrides(self.maskgit_steps, self.temperature)


def _typed(value: Any, default: object) -> Any:
    return list(value) if isinstance(default, list) else type(default)(value)


def sampling_override(name: str, value: float) -> float | None:
    """A sampling parameter's value, or None for "the checkpoint's" (maskgit_steps 0, temperature < 0)."""
    return value if (value > 0 if name == "maskgit_steps" else value >= 0) else None


def sampling_overrides(maskgit_steps: int, temperature: float) -> dict:
    """Node parameter values -> WorldModel keyword arguments (None = the checkpoint's)."""
    return {"maskgit_steps": sampling_override("maskgit_steps", maskgit_steps),
            "temperature": sampling_override("temperature", temperature)}
