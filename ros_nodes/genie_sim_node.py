"""genie_sim: the learned simulator as a ROS 2 node.

Publishes the world model's predicted camera frame (`camera/image`, rgb8, with a matching
`camera/camera_info`) for every latent action it receives on `action` (std_msgs/UInt8, 0-7) or,
in `timer` mode, at `fps` holding the last action. `prompt` (sensor_msgs/Image: rgb8, bgr8 or
mono8, any size) restarts the world from that frame; the `reset` service (std_srvs/Trigger)
restarts it from the configured prompt. `~/step_time` (std_msgs/Float32) is the measured
seconds per generated frame; `/diagnostics` (diagnostic_msgs/DiagnosticArray) carries the
node's status once a second: step time, frames per second, sampling settings, counts, and WARN
when the timer falls behind `fps` or inputs were refused (ros_nodes/diagnostics.py).

No message or call can end the node: every callback is guarded, bad input is logged in one
line, counted (the counts are logged at exit) and dropped, and the node keeps publishing.
Queues (README, "QoS"; depths in ros_nodes/genie_sim.py): `action` keeps the newest 10
messages, older ones are dropped under overload; `reset` keeps 1000 requests and answers every
one it receives; a reset while the world already sits at the configured prompt only
republishes it. With `num_envs` N > 1, N worlds step as one batch, each with its topics under
`env_<i>/` (README, "Several worlds"). `maskgit_steps`, `temperature` and `fps` can be changed while it runs
(`ros2 param set`); the others are read-only (ros_nodes/parameters.py).

Run: `ros2 run genie_sim genie_sim_node --ros-args -p model_dir:=...` or the bare console
script `genie_sim_node --ros-args ...`.
"""
from __future__ import annotations

import os
import signal
import sys
import threading

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
SHUTDOWN_GRACE_S = 10.0  # longest a stopped node takes to leave, cleanup included


def main(argv: list[str] | None = None) -> int:
    # Before any import starts a thread (OpenBLAS, ONNX Runtime, DDS): they inherit the blocked set.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    from genie_robotics.core.allocator import keep_freed_memory
    from ros_nodes.genie_sim import GenieSimNode

    keep_freed_memory()  # fewer page faults per generated frame (bench/allocator.py)
    stop = _stop_event()
    rclpy.init(args=sys.argv if argv is None else argv, signal_handler_options=SignalHandlerOptions.NO)
    try:
        node = GenieSimNode()
    except Exception as exc:  # a bad parameter must be one line, not a traceback
        print(f"genie_sim_node: error: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    try:
        while not stop.is_set() and rclpy.ok():  # stops between callbacks, never inside one
            rclpy.spin_once(node, timeout_sec=0.1)
    except rclpy.executors.ExternalShutdownException:
        pass
    finally:
        if node.failures:
            node.get_logger().info(f"refused or failed inputs: {node.failures}")
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def _stop_event() -> threading.Event:
    """Set on SIGINT/SIGTERM; from then on the process leaves within SHUTDOWN_GRACE_S whatever else.

    main() blocks the signals in every thread and one thread takes them with sigwait, so they
    are seen even while the main thread is busy in native code. (With rclpy's own handlers, an
    ONNX-backend node once ignored SIGTERM for good: caught, never acted on.)
    """
    stop = threading.Event()

    def wait_for_signal() -> None:
        signal.sigwait(STOP_SIGNALS)
        stop.set()
        watchdog = threading.Timer(SHUTDOWN_GRACE_S, _leave_now, args=(0,))
        watchdog.daemon = True
        watchdog.start()

    threading.Thread(target=wait_for_signal, name="genie_sim_signals", daemon=True).start()
    return stop


def _leave_now(code: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run() -> None:
    """Console-script entry: main(), then exit without interpreter teardown.

    Skips interpreter finalisation (native destructors of the middleware and runtimes), so a
    stopped node is gone promptly: everything it owns was released in main().
    """
    _leave_now(main())


if __name__ == "__main__":
    run()
