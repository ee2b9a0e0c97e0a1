"""The genie_sim node's `/diagnostics` status: how fast the world model runs and whether it keeps up.

ROS convention (diagnostic_updater): one diagnostic_msgs/DiagnosticStatus per task, named
"<node name>: <task>", on the absolute `/diagnostics` topic about once a second, every value a
string. Rates are measured the way diagnostic_updater's FrequencyStatus does: one (time,
running totals) sample per report and the growth over a sliding window, so an idle node reads
0 frames/s and one late report does not flip the level. The status is built from numbers, not
from a node, so it is tested without a ROS graph.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

REPORT_PERIOD_S = 1.0
WINDOW_S = 5.0  # shortest window that rates and recent failures are counted over
FRAMES_PER_WINDOW = 20  # timer mode: the window holds this many frames at the target, so whole-frame counts err < 5%
FPS_TOLERANCE = 0.1  # timer mode: WARN below 90% of the fps target (diagnostic_updater's default tolerance)
STEP_WINDOW = 20  # generated frames the mean step time is taken over


def rate_window_s(target_fps: float | None) -> float:
    return max(WINDOW_S, FRAMES_PER_WINDOW / target_fps) if target_fps else WINDOW_S


class RecentGrowth:
    """How much running totals (frames published, failures) grew over the last `window_s` seconds."""

    def __init__(self, window_s: float, now: float, totals: tuple[int, ...]) -> None:
        self.window_s = window_s
        self.samples = deque([(now, totals)])

    def update(self, now: float, totals: tuple[int, ...]) -> tuple[float, tuple[int, ...]]:
        """(seconds covered, growth of each total): since the newest sample at least `window_s` old,
        or since the first sample while the window is still filling."""
        self.samples.append((now, totals))
        while self.samples[1][0] <= now - self.window_s:
            self.samples.popleft()
        then, before = self.samples[0]
        return now - then, tuple(b - a for a, b in zip(before, totals))


def world_model_status(name: str, hardware_id: str, values: dict, *, step_times_s: Sequence[float],
                       frames_per_s: float, recent_failures: int, window_s: float, min_fps: float | None = None):
    """diagnostic_msgs/DiagnosticStatus: WARN when inputs were refused or failed within the window,
    or when `frames_per_s` falls short of `min_fps` (timer mode, once the window is full); OK otherwise.

    `values` (maskgit_steps, backend, ...) go out as they are; the step time (mean over
    `step_times_s`, the last STEP_WINDOW generated frames, and the last one) in milliseconds,
    "nan" before the first generated frame.
    """
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

    problems = []
    if min_fps is not None and frames_per_s < (1 - FPS_TOLERANCE) * min_fps:
        problems.append(f"{frames_per_s:.1f} frames/s, below the fps target {min_fps:g}")
    if recent_failures:
        problems.append(f"{recent_failures} inputs refused or failed in the last {window_s:.0f} s")
    mean_ms, last_ms = (1e3 * sum(step_times_s) / len(step_times_s), 1e3 * step_times_s[-1]) if step_times_s \
        else (math.nan, math.nan)
    values = {"step_time_ms": f"{mean_ms:.2f}", "step_time_last_ms": f"{last_ms:.2f}",
              "frames_per_s": f"{frames_per_s:.2f}", **values}
    return DiagnosticStatus(level=DiagnosticStatus.WARN if problems else DiagnosticStatus.OK, name=name,
                            message="; ".join(problems) or "OK", hardware_id=hardware_id,
                            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
