import dataclasses

from genie_robotics.config import preset


def small_config(frames: int = 4):
    """The tiny preset with a short context window, so sliding is reached in a few frames."""
    return dataclasses.replace(preset("tiny"), frames=frames)
