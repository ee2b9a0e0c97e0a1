"""The `/diagnostics` status from numbers (ros_nodes/diagnostics.py); the node publishing it is
tested in test_genie_sim_node.py."""
import math

import pytest

pytest.importorskip("diagnostic_msgs")  # the `ros` extra
from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402

from ros_nodes.diagnostics import RecentGrowth, rate_window_s, world_model_status  # noqa: E402


def test_recent_growth_covers_the_window_once_it_has_filled():
    recent = RecentGrowth(5.0, now=0.0, totals=(0, 0))
    assert recent.update(1.0, (10, 1)) == (1.0, (10, 1))  # still filling: since the start
    for t in range(2, 9):
        covered_s, (frames, failures) = recent.update(float(t), (10 * t, 1))
    assert covered_s == 5.0 and frames == 50 and failures == 0  # the failure at t = 1 has left the window
    assert rate_window_s(None) == 5.0 and rate_window_s(10.0) == 5.0 and rate_window_s(0.5) == 40.0


def _status(**kwargs):
    args = dict(step_times_s=[0.02, 0.04], frames_per_s=10.0, recent_failures=0, window_s=5.0, min_fps=10.0)
    s = world_model_status("genie_sim: world model", "tiny on cpu", {"maskgit_steps": 2}, **{**args, **kwargs})
    return s, {kv.key: kv.value for kv in s.values}


def test_status_warns_when_behind_the_fps_target_or_inputs_failed():
    s, values = _status()
    assert (s.level, s.message, s.name, s.hardware_id) == (DiagnosticStatus.OK, "OK", "genie_sim: world model",
                                                           "tiny on cpu")
    assert values == {"step_time_ms": "30.00", "step_time_last_ms": "40.00", "frames_per_s": "10.00",
                      "maskgit_steps": "2"}
    assert _status(frames_per_s=9.5)[0].level == DiagnosticStatus.OK  # within the 10% tolerance
    s, _ = _status(frames_per_s=8.0, recent_failures=2)
    assert s.level == DiagnosticStatus.WARN
    assert s.message == "8.0 frames/s, below the fps target 10; 2 inputs refused or failed in the last 5 s"
    assert _status(frames_per_s=1.0, min_fps=None)[0].level == DiagnosticStatus.OK  # on_action: no target
    _, values = _status(step_times_s=[])
    assert math.isnan(float(values["step_time_ms"])) and math.isnan(float(values["step_time_last_ms"]))
