import dataclasses

from genie_robotics.core.config import preset


def small_config(frames: int = 4):
    """The tiny preset with a short context window, so sliding is reached in a few frames."""
    return dataclasses.replace(preset("tiny"), frames=frames)


def tiny_config_dict(**dotted_values) -> dict:
    """The tiny preset as a plain dict with values set by dotted path (`lam.encoder.dim`)."""
    data = preset("tiny").to_dict()
    for path, value in dotted_values.items():
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value
    return data
