"""Pixel <-> patch conversions and the uint8 <-> float mapping shared by the pixel models."""
import torch


def to_unit(frames_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return frames_uint8.float() / 127.5 - 1.0


def to_uint8(frames: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8, clamped."""
    return ((frames.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)


def patchify(frames_BTHWC: torch.Tensor, patch: int) -> torch.Tensor:
    """[B, T, H, W, C] -> [B, T, (H/p)*(W/p), p*p*C], row-major over patches."""
    B, T, H, W, C = frames_BTHWC.shape
    x = frames_BTHWC.reshape(B, T, H // patch, patch, W // patch, patch, C)
    return x.permute(0, 1, 2, 4, 3, 5, 6).reshape(B, T, (H // patch) * (W // patch), patch * patch * C)


def unpatchify(patches_BTNP: torch.Tensor, patch: int, height: int, width: int) -> torch.Tensor:
    """Inverse of `patchify`."""
    B, T, _, _ = patches_BTNP.shape
    h, w = height // patch, width // patch
    x = patches_BTNP.reshape(B, T, h, w, patch, patch, -1)
    return x.permute(0, 1, 2, 4, 3, 5, 6).reshape(B, T, height, width, -1)
