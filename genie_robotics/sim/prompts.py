"""Prompt frames: the one loader behind demo, play, generate and the ROS node.

A prompt comes from an image file, a folder of them, the first frame of each episode of an RLDS
dataset, or by default from MuJoCo episodes rendered like the checkpoint's training data (its
data.json) but with a seed training never used, so a default prompt is always held out.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genie_robotics.core.errors import GenieError
from genie_robotics.data.render_settings import RENDER_SETTINGS_FILE, RenderSettings

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
PROMPT_SEED = 1000  # the shipped model was trained on seed-0 episodes: prompts come from elsewhere


@dataclass
class Prompt:
    image: np.ndarray  # uint8 [H, W, 3] at the model's resolution
    source: str  # image file path, or RLDS dataset path
    episode: str = ""  # the RLDS episode id (tfds id) of a dataset prompt


def _image_prompts(files: list[Path], height: int, width: int) -> list[Prompt]:
    from genie_robotics.core.images import read_image

    return [Prompt(read_image(path, height, width), str(path)) for path in files]


def _rlds_prompts(path: Path, height: int, width: int, limit: int) -> list[Prompt]:
    """The first frame of each of the first `limit` episodes."""
    from genie_robotics.data.rlds_reader import ClipSpec, RLDSClipDataset, open_rlds

    src = open_rlds(path)
    n = min(limit, src.episodes)
    src = dataclasses.replace(src, split=f"{src.split}[:{n}]", episodes=n)
    # One-frame clips starting every 2**30 steps: only each episode's first step.
    spec = ClipSpec(frames=1, height=height, width=width, stride=2**30, shuffle_buffer=0, part="all", repeat=False)
    return [Prompt(clip["frames"][0].numpy(), str(src.path), clip["episode"])
            for clip in RLDSClipDataset([src], spec, rank=0, world_size=1)]


def load_prompts(path: str | Path, height: int, width: int, limit: int = 1) -> list[Prompt]:
    """Prompt frames from image files (sorted by name) or an RLDS dataset (at most `limit` of those)."""
    path = Path(path)
    if not path.exists():
        raise GenieError(f"prompts {path} do not exist")
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise GenieError(f"prompt file {path} is not an image ({', '.join(IMAGE_SUFFIXES)})")
        return _image_prompts([path], height, width)
    images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if images:
        return _image_prompts(images, height, width)
    try:
        prompts = _rlds_prompts(path, height, width, limit)
    except GenieError as exc:
        raise GenieError(f"prompts {path} holds no image files ({', '.join(IMAGE_SUFFIXES)}) and is not a "
                         f"readable RLDS dataset: {exc}") from None
    if not prompts:
        raise GenieError(f"RLDS dataset {path} has no episodes to take prompt frames from")
    return prompts


def prompt_render_settings(checkpoint: Path, height: int, width: int) -> RenderSettings:
    """Render settings for prompt episodes: the scene and policy of the checkpoint's training
    data (its data.json, if it has one) at the model's size, with a seed training never used."""
    path = Path(checkpoint) / RENDER_SETTINGS_FILE
    trained_on = RenderSettings.load(path) if path.is_file() else RenderSettings()
    return dataclasses.replace(trained_on, size=f"{height}x{width}", steps=8, seed=PROMPT_SEED, episodes=4)


def heldout_prompt_dataset(checkpoint: Path, height: int, width: int, data_root: Path, progress: bool = True) -> Path:
    """Held-out MuJoCo episodes to draw prompts from: rendered on first use, reused afterwards."""
    import logging

    from genie_robotics.data.mujoco_render import render_dataset

    log = logging.getLogger(__name__)
    r = prompt_render_settings(checkpoint, height, width)
    bigger = f"-target{r.target_scale:g}" if r.target_scale != 1.0 else ""
    data_dir = Path(data_root) / f"prompts-{r.scene}-{r.policy}-{r.size}{bigger}-seed{r.seed}"
    if (data_dir / "dataset_info.json").is_file():
        log.info("reusing rendered MuJoCo prompt episodes at %s", data_dir)
        return data_dir
    render_dataset(data_dir, r, progress=progress)
    log.info("rendered %d MuJoCo episodes (%s, %s policy) to %s (RLDS) for prompt frames", r.episodes, r.scene,
             r.policy, data_dir)
    return data_dir


def load_prompt(path: str | Path | None, checkpoint: Path, height: int, width: int, data_root: Path,
                progress: bool = True) -> Prompt:
    """One prompt: from `path` (see `load_prompts`), or by default the first frame of the
    checkpoint's held-out rendered episodes."""
    if path is None:
        path = heldout_prompt_dataset(checkpoint, height, width, data_root, progress)
    return load_prompts(path, height, width, limit=1)[0]
