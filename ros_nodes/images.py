"""sensor_msgs/Image <-> numpy RGB frames, for the genie_sim node and its clients.

Every check happens before any pixel is copied or handed to OpenCV, so a malformed message
(zero or huge sizes, a step or data length that disagrees with the header, an unknown
encoding) is one ValueError naming what is wrong.
"""
from __future__ import annotations

import numpy as np

ENCODING_CHANNELS = {"rgb8": 3, "bgr8": 3, "mono8": 1}
MAX_PIXELS = 4096 * 4096  # larger images are refused before any copy


def image_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/Image (rgb8, bgr8, mono8) -> uint8 [H, W, 3]; ValueError says what is wrong."""
    channels = ENCODING_CHANNELS.get(msg.encoding)
    if channels is None:
        raise ValueError(f"unsupported image encoding {msg.encoding!r} ({', '.join(ENCODING_CHANNELS)})")
    if msg.height == 0 or msg.width == 0:
        raise ValueError(f"image has no pixels ({msg.height} x {msg.width})")
    if msg.height * msg.width > MAX_PIXELS:
        raise ValueError(f"image of {msg.height} x {msg.width} pixels is larger than {MAX_PIXELS} pixels")
    if msg.step < msg.width * channels or len(msg.data) != msg.step * msg.height:
        raise ValueError(f"image data length {len(msg.data)} does not match {msg.height} rows x step {msg.step} "
                         f"({msg.width} px {msg.encoding})")
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
    pixels = rows[:, : msg.width * channels].reshape(msg.height, msg.width, channels)
    if msg.encoding == "bgr8":
        pixels = pixels[..., ::-1]
    if channels == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels)


def rgb_to_image(frame_HWC: np.ndarray, stamp, frame_id: str):
    """uint8 [H, W, 3] -> an rgb8 sensor_msgs/Image stamped `stamp` in `frame_id`."""
    from sensor_msgs.msg import Image

    height, width = frame_HWC.shape[:2]
    msg = Image(height=height, width=width, encoding="rgb8", is_bigendian=0, step=width * 3)
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    msg.data = np.ascontiguousarray(frame_HWC, dtype=np.uint8).tobytes()
    return msg
