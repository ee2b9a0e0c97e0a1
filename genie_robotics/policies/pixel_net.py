"""A small convolutional network from one 64x64 camera frame: the policies' and the detector's eyes.

Policies act from pixels (not low-dimensional state), so one policy runs unchanged on MuJoCo's
frames and on the learned simulator's. Two channels of pixel coordinates are added to the image
(CoordConv): reading where the gripper and the target are is the whole task. Weights are stored
as safetensors with a JSON header of the shape settings; nothing is unpickled.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from genie_robotics.core.atomic_files import atomic_replace, atomic_write_text
from genie_robotics.core.errors import GenieError


class PixelNet(nn.Module):
    """uint8 frames [B, H, W, 3] -> `outputs` numbers (class logits or regression targets).

    Convolutions at half resolution end in `keypoints` heat maps; a spatial soft-argmax turns each
    into an expected image position (Levine et al. 2016), so where things are (a 2-3 pixel target,
    the gripper) reaches the head as coordinates, to sub-pixel precision."""

    def __init__(self, outputs: int, size: int = 64, width: int = 32, keypoints: int = 16, points: bool = False) -> None:
        super().__init__()
        self.outputs, self.size, self.width, self.points = outputs, size, width, points
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 5, stride=2, padding=2), nn.SiLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.SiLU(),
            nn.Conv2d(width, keypoints, 3, padding=1),
        )
        self.head = nn.Sequential(nn.Linear(2 * keypoints, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(),
                                  nn.Linear(128, outputs))
        # Pixel centres of the half-resolution maps, in input pixels (column, row).
        half = size // 2
        centres = (torch.arange(half, dtype=torch.float32) + 0.5) * 2.0
        grid_col, grid_row = torch.meshgrid(centres, centres, indexing="xy")
        self.register_buffer("grid_2P", torch.stack((grid_col.reshape(-1), grid_row.reshape(-1))), persistent=False)

    def forward(self, frames_BHWC: torch.Tensor) -> torch.Tensor:
        if frames_BHWC.shape[1:] != (self.size, self.size, 3):
            raise GenieError(f"a pixel network reads frames of shape ({self.size}, {self.size}, 3); "
                             f"got {tuple(frames_BHWC.shape[1:])}")
        image_B3HW = frames_BHWC.permute(0, 3, 1, 2).float() / 127.5 - 1.0
        maps_BKP = self.features(image_B3HW).flatten(2)
        points_BK2 = torch.softmax(maps_BKP, dim=-1) @ self.grid_2P.T  # expected (column, row) per map
        if self.points:  # the first outputs / 2 maps' positions are the outputs (a keypoint detector)
            return points_BK2[:, : self.outputs // 2].flatten(1)
        return self.head((points_BK2.flatten(1) - self.size / 2) / (self.size / 2))

    @torch.inference_mode()
    def predict(self, frames_BHWC: np.ndarray, batch: int = 512) -> np.ndarray:
        """float32 outputs [B, outputs] for uint8 frames (numpy in, numpy out)."""
        self.eval()
        frames = torch.as_tensor(np.ascontiguousarray(frames_BHWC, dtype=np.uint8))
        return torch.cat([self(frames[i:i + batch]) for i in range(0, len(frames), batch)]).numpy()

    def save(self, path: Path, meta: dict) -> None:
        """`path`.safetensors (weights) and `path`.json (shape settings and `meta`), written atomically."""
        path = Path(path)
        weights = {k: v.contiguous() for k, v in self.state_dict().items()}
        atomic_replace(path.with_suffix(".safetensors"), lambda tmp: save_file(weights, str(tmp)))
        header = {"outputs": self.outputs, "size": self.size, "width": self.width, "points": self.points, **meta}
        atomic_write_text(path.with_suffix(".json"), json.dumps(header, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> tuple[PixelNet, dict]:
        path = Path(path)
        try:
            header = json.loads(path.with_suffix(".json").read_text())
            net = cls(int(header["outputs"]), int(header["size"]), int(header["width"]), points=bool(header["points"]))
            net.load_state_dict(load_file(str(path.with_suffix(".safetensors"))))
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise GenieError(f"cannot read the pixel network at {path}(.json/.safetensors): {exc}") from None
        return net.eval(), header


def fit_pixel_net(frames_NHWC: np.ndarray, targets_N: np.ndarray, outputs: int, steps: int, seed: int,
                  classes: bool = True, init: PixelNet | None = None, batch: int = 64, lr: float = 3e-3,
                  desc: str = "fit", progress: bool = True) -> PixelNet:
    """AdamW with a cosine schedule on cross-entropy (`classes`) or mean squared error, with random
    one-pixel shifts of the frames (targets in pixels shift with them when regressing positions)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = PixelNet(outputs, frames_NHWC.shape[1], points=not classes) if init is None else init
    if init is not None:
        net.load_state_dict(init.state_dict())  # a copy: fine-tuning leaves the pre-trained net as it was
    net.train()
    frames = torch.as_tensor(np.asarray(frames_NHWC, dtype=np.uint8))
    targets = torch.as_tensor(targets_N, dtype=torch.long if classes else torch.float32)
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    loss_fn = nn.CrossEntropyLoss() if classes else nn.MSELoss()
    for _ in tqdm(range(steps), desc=desc, unit="step", disable=not progress, mininterval=2.0):
        idx = torch.randint(len(frames), (min(batch, len(frames)),), generator=gen)
        x, y = frames[idx], targets[idx]
        dx, dy = (int(v) for v in torch.randint(-1, 2, (2,), generator=gen))
        x = torch.roll(x, shifts=(dy, dx), dims=(1, 2))
        if not classes:  # positions as (column, row) pairs move with the image
            y = y + torch.tensor([dx, dy], dtype=y.dtype).repeat(y.shape[1] // 2)
        loss = loss_fn(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return net.eval()
