"""A tiny in-process robot scene for fast model tests: a two-link arm moves its gripper.

Each step the gripper moves in one of 8 compass directions (the true action, kept for
probing, never for training), held for a few steps at a time, so the latent action model
has a discrete, learnable cause of motion. Fast enough to generate in tests.
"""
from __future__ import annotations

import numpy as np

# 8 compass directions (dx, dy) in pixels per step at unit speed.
DIRECTIONS = np.array([(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)], dtype=np.float32)
DIRECTIONS /= np.linalg.norm(DIRECTIONS, axis=1, keepdims=True)


def _stamp_disk(img: np.ndarray, cx: float, cy: float, r: float, color, yy: np.ndarray, xx: np.ndarray) -> None:
    img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = color


def _draw(size: int, base, elbow, gripper, block, yy, xx) -> np.ndarray:
    img = np.empty((size, size, 3), dtype=np.uint8)
    img[:] = (150, 130, 105)  # table
    img[: size // 5] = (70, 80, 95)  # back wall
    bx, by = block
    s = size / 16
    img[int(by - s) : int(by + s), int(bx - s) : int(bx + s)] = (200, 50, 40)  # object
    for (x0, y0), (x1, y1) in ((base, elbow), (elbow, gripper)):
        for a in np.linspace(0, 1, 12):
            _stamp_disk(img, x0 + a * (x1 - x0), y0 + a * (y1 - y0), size / 28, (225, 225, 230), yy, xx)
    _stamp_disk(img, *gripper, size / 14, (40, 110, 220), yy, xx)
    return img


def render_episodes(
    episodes: int, steps: int, size: int = 64, seed: int = 0, speed: float | None = None, hold: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Frames uint8 [E, steps, size, size, 3] and true actions int64 [E, steps - 1]."""
    rng = np.random.default_rng(seed)
    speed = speed if speed is not None else size / 16
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = np.array([size / 2, size - 2], dtype=np.float32)
    lo, hi = size * 0.2, size * 0.8
    frames = np.empty((episodes, steps, size, size, 3), dtype=np.uint8)
    actions = np.empty((episodes, steps - 1), dtype=np.int64)
    for e in range(episodes):
        gripper = rng.uniform(lo, hi, size=2).astype(np.float32)
        block = rng.uniform(size * 0.3, size * 0.7, size=2).astype(np.float32)
        action = int(rng.integers(8))
        for t in range(steps):
            elbow = (base + gripper) / 2 + np.array([-size / 8, 0], dtype=np.float32)
            frames[e, t] = _draw(size, base, elbow, gripper, block, yy, xx)
            if t == steps - 1:
                break
            if t % hold == 0:
                action = int(rng.integers(8))
            nxt = gripper + speed * DIRECTIONS[action]
            if not (lo <= nxt[0] <= hi and lo <= nxt[1] <= hi):  # turn back at the workspace edge
                action = (action + 4) % 8
                nxt = gripper + speed * DIRECTIONS[action]
            actions[e, t] = action
            gripper = nxt
    return frames, actions

