"""The simulated camera's calibration, for `camera/camera_info`.

The world model draws what the MuJoCo camera it was trained on would see, so its intrinsics are
that camera's: a pinhole with square pixels, principal point at the image centre, no
distortion (plumb_bob with zero coefficients), focal length from the vertical field of view.
"""
from __future__ import annotations

import math
from pathlib import Path


def trained_camera_fovy_deg(model_dir: Path) -> float | None:
    """Vertical FOV of the camera the checkpoint's training video was rendered with (its
    data.json), or None when the model carries no such record."""
    from genie_robotics.data.render_settings import RENDER_SETTINGS_FILE, RenderSettings

    path = Path(model_dir) / RENDER_SETTINGS_FILE
    return RenderSettings.load(path).camera_fovy_deg if path.is_file() else None


def intrinsics(height: int, width: int, fovy_deg: float) -> tuple[list[float], list[float]]:
    """(K row-major 3x3, P row-major 3x4) of a centred pinhole; pixel centres at integers (ROS)."""
    f = (height / 2) / math.tan(math.radians(fovy_deg) / 2)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    return [f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0], [f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0.0, 0.0, 1.0, 0.0]


def camera_info(header, height: int, width: int, fovy_deg: float | None):
    """sensor_msgs/CameraInfo; with no known FOV, K and P stay zero (ROS: uncalibrated)."""
    from sensor_msgs.msg import CameraInfo

    info = CameraInfo(header=header, height=height, width=width, distortion_model="plumb_bob")
    info.d = [0.0] * 5
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    if fovy_deg:
        info.k, info.p = intrinsics(height, width, fovy_deg)
    return info
