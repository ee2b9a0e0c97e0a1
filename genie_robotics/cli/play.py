"""Play the learned simulator: keys 1-8 apply latent actions in an OpenCV window.

`r` restarts from the prompt, `q` (or Esc) quits; the window shows the current action, the
step count and the measured frames/second. With `--actions` it runs headless instead, following
an action script (latent actions 0-7, `r` = reset), which is how rollouts are recorded on
machines without a display. `--record` writes what was shown to a GIF or an MP4.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genie_robotics.core import options as flags
from genie_robotics.core.backends import BACKENDS
from genie_robotics.core.errors import GenieError
from genie_robotics.sim.action_script import check_script, parse_script
from genie_robotics.sim.prompts import load_prompt

RECORD_SUFFIXES = (".gif", ".mp4", ".avi")


@dataclass
class PlayOptions:
    """`genie-robotics play`'s options (each field is its flag; see arguments.option)."""

    model: Path = flags.path_option(help="checkpoint directory or ONNX export directory", positional=True)
    prompt: Path | None = flags.path_option(None, help="prompt image file, folder or RLDS dataset (default: a "
                                                       "held-out rendered MuJoCo frame)")
    actions: list[int | str] | None = flags.option(
        None, parse=flags.as_argument_type(parse_script),
        help="headless: comma-separated latent actions 0-7, r = reset (e.g. 0,0,3,3,r,5); without it an OpenCV window opens")
    record: Path | None = flags.path_option(None, help="write what is shown to out.gif, out.mp4 or out.avi")
    backend: str = flags.option("auto", choices=list(BACKENDS),
                                help="auto: ONNX Runtime for an export directory, PyTorch for a checkpoint; "
                                     "torch-compiled: PyTorch through torch.compile (it compiles at the start)")
    maskgit_steps: int | None = flags.maskgit_steps_option()
    temperature: float | None = flags.temperature_option()
    seed: int = flags.seed_option()
    scale: int = flags.option(6, parse=flags.positive_int, help="upscale factor of the shown frames")
    data_root: Path = flags.path_option(Path("outputs/data"), help="where the default prompt's rendered episodes are cached")


def annotate(frame_HWC: np.ndarray, scale: int, text: str) -> np.ndarray:
    """The frame upscaled (nearest) with a status line drawn on a dark band at the top."""
    import cv2

    big = cv2.resize(frame_HWC, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    band = max(14, big.shape[0] // 14)
    big[:band] = (big[:band] * 0.35).astype(np.uint8)
    cv2.putText(big, text, (4, band - 4), cv2.FONT_HERSHEY_SIMPLEX, band / 30, (255, 255, 255), 1, cv2.LINE_AA)
    return big


class Recorder:
    """Collects shown frames; writes a GIF (PIL) or an MP4/AVI (OpenCV) at the end."""

    def __init__(self, path: Path | None, fps: int) -> None:
        if path is not None and path.suffix.lower() not in RECORD_SUFFIXES:
            raise GenieError(f"--record {path}: unsupported format (use one of {', '.join(RECORD_SUFFIXES)})")
        self.path, self.fps, self.frames = path, fps, []

    def add(self, frame_HWC: np.ndarray) -> None:
        if self.path is not None:
            self.frames.append(frame_HWC)

    def save(self) -> Path | None:
        if self.path is None or not self.frames:
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.suffix.lower() == ".gif":
            from genie_robotics.core.images import save_gif

            return save_gif(np.stack(self.frames), self.path, fps=self.fps)
        import cv2

        h, w = self.frames[0].shape[:2]
        fourcc = cv2.VideoWriter_fourcc(*("mp4v" if self.path.suffix.lower() == ".mp4" else "MJPG"))
        writer = cv2.VideoWriter(str(self.path), fourcc, float(self.fps), (w, h))
        if not writer.isOpened():
            raise GenieError(f"OpenCV cannot write video {self.path} (no encoder for {self.path.suffix}); try .gif")
        for frame in self.frames:
            writer.write(frame[..., ::-1].copy())
        writer.release()
        return self.path


def _window_available() -> None:
    """Fail early, in one line, where no OpenCV window can open."""
    import os

    import cv2

    gui = next((line for line in cv2.getBuildInformation().splitlines() if line.strip().startswith("GUI:")), "GUI: NONE")
    if "NONE" in gui:
        raise GenieError("this OpenCV has no GUI (opencv-python-headless); install opencv-python==4.11.0.86 for the "
                         "window, or play headless with --actions 0,1,2,... --record out.gif")
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise GenieError("no display (DISPLAY is unset); play headless with --actions 0,1,2,... --record out.gif")


def play(opts: PlayOptions) -> dict:
    from genie_robotics.sim.world_model import load_world_model

    if opts.actions is None:
        _window_available()
    recorder = Recorder(opts.record, fps=10)
    world = load_world_model(opts.model, opts.backend, maskgit_steps=opts.maskgit_steps,
                             temperature=opts.temperature, seed=opts.seed)
    cfg = world.cfg
    if opts.actions is not None:
        check_script(opts.actions, world.num_actions)
    prompt = load_prompt(opts.prompt, Path(opts.model), cfg.height, cfg.width, opts.data_root, progress=False).image
    state = {"action": "-", "steps": 0, "fps": 0.0}
    world.warm_up(prompt)  # a compiled backend compiles here, not in the first step's time
    frame = world.reset(prompt)

    def show(frame_HWC: np.ndarray) -> np.ndarray:
        status = f"action {state['action']}  step {state['steps']}  {state['fps']:.1f} fps"
        shown = annotate(frame_HWC, opts.scale, status)
        recorder.add(shown)
        return shown

    def apply(item) -> np.ndarray:
        if item == "r":
            state.update(action="-", steps=0)
            return world.reset(prompt)
        start = time.perf_counter()
        out = world.step(item)
        state.update(action=item, steps=state["steps"] + 1, fps=1.0 / (time.perf_counter() - start))
        return out

    step_times, shown = [], show(frame)
    if opts.actions is not None:
        for item in opts.actions:
            frame = apply(item)
            if item != "r":
                step_times.append(1.0 / state["fps"])
            show(frame)
    else:
        import cv2

        title = f"genie-robotics play: keys 1-{cfg.num_actions} act, r reset, q quit"
        cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE)
        while True:
            cv2.imshow(title, shown[..., ::-1])
            key = cv2.waitKey(0) & 0xFF
            if key in (ord("q"), 27) or cv2.getWindowProperty(title, cv2.WND_PROP_VISIBLE) < 1:
                break
            if key == ord("r"):
                shown = show(apply("r"))
            elif ord("1") <= key < ord("1") + cfg.num_actions:
                frame = apply(key - ord("1"))
                step_times.append(1.0 / state["fps"])
                shown = show(frame)
        cv2.destroyAllWindows()
    saved = recorder.save()
    summary = {
        "model": str(opts.model), "backend": getattr(world.backend, "provider", world.backend.name), "steps": len(step_times),
        "frames_per_s": round(len(step_times) / sum(step_times), 2) if step_times else None,
        "recorded_frames": len(recorder.frames), "record": str(saved) if saved else None,
    }
    return summary
