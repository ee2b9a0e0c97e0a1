"""Every bad input a careless or hostile user can give the CLI: one line, exit 2, no traceback,
nothing run from disk, nothing lost. Each case is a real `genie-robotics` subprocess."""
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genie_robotics.core.assets import SHIPPED_CHECKPOINT
from tests.helpers import tiny_config_dict

REPO = Path(__file__).resolve().parents[1]
FAST_TRAIN = ["--preset", "tiny", "--clip-frames", "4", "--micro-batch", "2", "--warmup", "1", "--log-every", "1",
              "--image-every", "0", "--no-progress"]


def _cli(*args, timeout=600, **kwargs):
    return subprocess.run([sys.executable, "-m", "genie_robotics.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO, **kwargs)


def _assert_one_line(run, message):
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2, run.stderr[-2000:]
    assert "Traceback" not in run.stderr and len(lines) <= 3, run.stderr[-2000:]
    assert message in run.stderr, run.stderr[-2000:]


def _config_file(tmp_path, path, value):
    import yaml

    out = tmp_path / "config.yaml"
    out.write_text(yaml.safe_dump(tiny_config_dict(**{path: value})))
    return out


def _not_torchscript(tmp_path):
    path = tmp_path / "i3d.pt"
    path.write_bytes(b"not a TorchScript archive")
    return path


def _binary(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    return path


def _a_file(tmp_path):
    path = tmp_path / "a_file"
    path.write_text("x")
    return path


CASES = {
    # name: (argv built from tmp_path and the rendered dataset, expected message)
    "info --config binary": (lambda t, d: ["info", "--config", _binary(t)], "is not readable text"),
    "config height -64": (lambda t, d: ["info", "--config", _config_file(t, "height", -64)], "height must be in [8, 4096]"),
    "config height 64.0": (lambda t, d: ["info", "--config", _config_file(t, "height", 64.0)], "height must be an integer"),
    "config height 4096000": (lambda t, d: ["info", "--config", _config_file(t, "height", 4096000)], "height must be in"),
    "config dim 'abc'": (lambda t, d: ["info", "--config", _config_file(t, "lam.encoder.dim", "abc")],
                         "lam.encoder.dim must be an integer"),
    "play --scale 0": (lambda t, d: ["play", SHIPPED_CHECKPOINT, "--actions", "1", "--scale", "0"], "--scale: an integer >= 1"),
    "export --out file": (lambda t, d: ["export", SHIPPED_CHECKPOINT, "--out", _a_file(t)], "is not a directory"),
    "render --size huge": (lambda t, d: ["data", "render", "--out", t / "r", "--size", "100000x100000"],
                           "each side of --size must be in"),
    "train --save-every 0": (lambda t, d: ["train", "--stage", "tokenizer", "--data", d, "--out", t / "run",
                                           "--save-every", "0"], "--save-every: an integer >= 1"),
    "train --log-every 0": (lambda t, d: ["train", "--stage", "tokenizer", "--data", d, "--out", t / "run",
                                          "--log-every", "0"], "--log-every: an integer >= 1"),
    "train --micro-batch 0": (lambda t, d: ["train", "--stage", "tokenizer", "--data", d, "--out", t / "run",
                                            "--micro-batch", "0"], "--micro-batch: an integer >= 1"),
    "train --clip-frames > episodes": (lambda t, d: ["train", "--stage", "tokenizer", "--data", d, "--out", t / "run",
                                                     "--clip-frames", "100"], "longer than every episode"),
    "train --out under a file": (lambda t, d: ["train", "--stage", "tokenizer", "--data", d, "--out", _a_file(t) / "run"],
                                 "is a file, not a directory"),
    "train --out read-only": (lambda t, d: ["train", "--stage", "tokenizer", "--data", d, "--out", "/proc/genie-run"],
                              "--out /proc/genie-run"),
    "eval --temperature -1": (lambda t, d: ["eval", SHIPPED_CHECKPOINT, "--data", d, "--temperature", "-1"],
                              "--temperature: a temperature in [0, 100]"),
    "eval --episodes 0": (lambda t, d: ["eval", SHIPPED_CHECKPOINT, "--data", d, "--episodes", "0"],
                          "--episodes: an integer >= 1"),
    "eval --i3d not TorchScript": (lambda t, d: ["eval", SHIPPED_CHECKPOINT, "--data", d, "--i3d", _not_torchscript(t)],
                                   "is not a TorchScript archive"),
    "inspect --limit -1": (lambda t, d: ["data", "inspect", d, "--limit", "-1"], "--limit: an integer >= 1"),
    "generate --stick-probability 2": (lambda t, d: ["generate", SHIPPED_CHECKPOINT, "--prompts", d, "--out", t / "g",
                                                     "--stick-probability", "2"], "a number in [0, 1]"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2(tmp_path, mujoco_dir, case):
    argv, message = CASES[case]
    start = time.monotonic()
    run = _cli(*argv(tmp_path, mujoco_dir), timeout=120)
    _assert_one_line(run, message)
    assert time.monotonic() - start < 60, "bad input must be refused before any expensive work"


@pytest.mark.deepspeed
def test_a_second_trainer_on_the_same_run_directory_is_refused(tmp_path, mujoco_dir):
    run = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "genie_robotics.cli", "train", "--stage", "tokenizer", "--data",
                              str(mujoco_dir), "--out", str(run), "--steps", "100000", "--save-every", "100000",
                              *FAST_TRAIN], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (run / "tokenizer" / "metrics.jsonl").is_file() and time.monotonic() < deadline:
            assert first.poll() is None, "the first trainer exited"
            time.sleep(0.5)
        second = _cli("train", "--stage", "tokenizer", "--data", mujoco_dir, "--out", run, "--steps", "2", *FAST_TRAIN)
        _assert_one_line(second, f"in use by another trainer (PID {first.pid})")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()


class _Planted:
    """A pickle that, if ever unpickled, leaves a marker file: the attack a resume must refuse."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.deepspeed
def test_resume_refuses_a_planted_pickle_and_runs_nothing(tmp_path, mujoco_dir):
    run = tmp_path / "run"
    common = ["train", "--stage", "tokenizer", "--data", mujoco_dir, "--out", run, "--steps", "4", "--save-every", "2",
              *FAST_TRAIN]
    first = _cli(*common, "--stop-at", "2")
    assert first.returncode == 0, first.stderr[-2000:]
    states = next((run / "tokenizer" / "checkpoints").glob("step*/mp_rank_00_model_states.pt"))
    marker = tmp_path / "pwned"
    with open(states, "wb") as f:
        pickle.dump({"module": _Planted(marker)}, f)
    resumed = _cli(*common, "--resume")
    _assert_one_line(resumed, f"refusing to resume from {states}")
    assert not marker.exists(), "the planted pickle ran"


def _file_size_limit(limit):
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.deepspeed
def test_a_failed_checkpoint_write_is_one_line_and_keeps_the_last_good_one(tmp_path, mujoco_dir):
    run = tmp_path / "run"
    common = ["train", "--stage", "tokenizer", "--data", mujoco_dir, "--out", run, "--steps", "4", "--save-every", "2",
              *FAST_TRAIN]
    first = _cli(*common, "--stop-at", "2")
    assert first.returncode == 0, first.stderr[-2000:]
    latest = (run / "tokenizer" / "checkpoints" / "latest").read_text()
    # Files may not grow past 256 KiB: the next checkpoint cannot be written, as on a full disk.
    full = _cli(*common, "--resume", preexec_fn=_file_size_limit(256 * 1024))
    _assert_one_line(full, "no space left")
    assert (run / "tokenizer" / "checkpoints" / "latest").read_text() == latest
    assert not (run / "tokenizer" / "checkpoints" / "step00000004").exists()
    again = _cli(*common, "--resume")  # with room again, the run finishes from the kept checkpoint
    assert again.returncode == 0, again.stderr[-2000:]
    steps = [line.split(",")[0] for line in (run / "tokenizer" / "metrics.jsonl").read_text().splitlines()]
    assert steps == ['{"step": 1', '{"step": 2', '{"step": 3', '{"step": 4'], "metrics.jsonl repeats or misses steps"
