"""Robot commands in: a geometry_msgs/TwistStamped on `cmd` -> the displacement of one frame.

A servo or teleoperation stack commands end-effector velocity (MoveIt Servo takes TwistStamped);
the command map (genie_robotics.commands) takes the displacement over one frame that robot
datasets record (`world_vector`). The twist's linear part is in `command_frame`: x = image
right, z = image up (the camera's image plane, as the training data's world_vector), y into the
scene; metres per second. Angular velocity is ignored: the learned actions are translations.
Every check happens here, before the world model sees the command; each failure is one
ValueError naming what is wrong, which the node logs, counts and drops.
"""
from __future__ import annotations

import numpy as np


def twist_to_displacement(msg, frame: str, max_speed: float, seconds_per_frame: float) -> np.ndarray:
    """float64 [3]: the displacement (metres) a TwistStamped commands over one frame."""
    if msg.header.frame_id != frame:
        raise ValueError(f"cmd is in frame {msg.header.frame_id!r}, not {frame!r} (x right, z up in the image plane; "
                         f"parameter command_frame)")
    linear = msg.twist.linear
    velocity = np.array([linear.x, linear.y, linear.z], dtype=np.float64)
    if not np.isfinite(velocity).all():
        raise ValueError(f"cmd holds a NaN or infinite speed: {velocity.tolist()}")
    speed = float(np.linalg.norm(velocity))
    if speed > max_speed:
        raise ValueError(f"cmd speed {speed:.3g} m/s is above max_command_speed {max_speed:g} m/s")
    return velocity * seconds_per_frame
