"""Images in and out: grids and GIFs of rollouts for humans, prompt images read from files."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def grid(frames_RCHWC: np.ndarray, pad: int = 2) -> np.ndarray:
    """Tile [rows, cols, H, W, 3] uint8 into one image with `pad` white pixels between tiles."""
    R, C, H, W, _ = frames_RCHWC.shape
    out = np.full((R * (H + pad) + pad, C * (W + pad) + pad, 3), 255, dtype=np.uint8)
    for r in range(R):
        for c in range(C):
            y, x = pad + r * (H + pad), pad + c * (W + pad)
            out[y : y + H, x : x + W] = frames_RCHWC[r, c]
    return out


def save_png(image_HWC: np.ndarray, path: str | Path, scale: int = 1) -> Path:
    from PIL import Image

    img = Image.fromarray(image_HWC)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return Path(path)


def save_gif(images_THWC: np.ndarray, path: str | Path, fps: int = 10, scale: int = 1) -> Path:
    """An animated GIF looping over the frames."""
    from PIL import Image

    imgs = [Image.fromarray(f) for f in images_THWC]
    if scale > 1:
        imgs = [im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST) for im in imgs]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=int(1000 / fps), loop=0)
    return Path(path)


def resize(frame_HWC: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 [H, W, 3] resized to the model's resolution (area interpolation when shrinking)."""
    if frame_HWC.shape[:2] == (height, width):
        return frame_HWC
    import cv2

    return cv2.resize(frame_HWC, (width, height), interpolation=cv2.INTER_AREA)


def read_image(path: str | Path, height: int, width: int) -> np.ndarray:
    """An image file (PNG, JPEG, ...) as RGB uint8 [height, width, 3]."""
    import cv2

    from genie_robotics.core.errors import GenieError

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise GenieError(f"could not read image {path} (missing, or not an image file)")
    return resize(np.ascontiguousarray(bgr[..., ::-1]), height, width)
