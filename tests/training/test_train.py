"""Real DeepSpeed runs on CPU (gloo): the launcher with 2 processes, resume, guards, configs."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from genie_robotics.core.config import preset
from genie_robotics.models.checkpoint import load_checkpoint
from genie_robotics.models.genie import count_parameters

REPO = Path(__file__).resolve().parents[2]
def fast(lr="2e-3"):
    """Arguments for a few quick steps of the tiny preset on 4-frame clips."""
    return ["--preset", "tiny", "--clip-frames", "4", "--micro-batch", "2", "--lr", lr, "--warmup", "1",
            "--log-every", "1", "--image-every", "0", "--no-progress"]


def _train(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "genie_robotics.cli", "train", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


def _losses(run, stage):
    return [json.loads(line)["loss"] for line in (run / stage / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.deepspeed
def test_two_cpu_processes_train_every_phase(tmp_path, mujoco_dir):
    run = tmp_path / "run"
    for stage, steps in (("tokenizer", 8), ("lam", 6), ("dynamics", 6)):
        refit = ["--refit-codebook", "4"] if stage == "lam" else []  # k-means over both ranks' latents
        out = _train("--stage", stage, "--data", str(mujoco_dir), "--out", str(run), "--steps", str(steps),
                     "--num-procs", "2", "--save-every", "4", *refit, *fast())
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert ("codebook refit by k-means" in out.stdout) == (stage == "lam")
        losses = _losses(run, stage)
        assert len(losses) == steps and sum(losses[-2:]) < sum(losses[:2]), losses
        digests = {json.loads(p.read_text())["parameters_sha256"] for p in (run / stage / "ranks").glob("rank*.json")}
        assert len(list((run / stage / "ranks").glob("rank*.json"))) == 2 and len(digests) == 1, "ranks diverged"
        assert (run / stage / "tensorboard").is_dir() and (run / stage / "train_config.yaml").is_file()
    genie = load_checkpoint(run / "export")
    assert genie.cfg == preset("tiny")


@pytest.mark.deepspeed
def test_resume_matches_an_uninterrupted_run_bit_for_bit(tmp_path, mujoco_dir):
    common = ["--stage", "tokenizer", "--data", str(mujoco_dir), "--steps", "4", "--save-every", "100", *fast()]
    straight = _train(*common, "--out", str(tmp_path / "straight"))
    assert straight.returncode == 0, straight.stderr[-3000:]
    first = _train(*common, "--out", str(tmp_path / "resumed"), "--stop-at", "2")
    assert first.returncode == 0 and "stopped at --stop-at" in first.stdout, first.stderr[-3000:]
    second = _train(*common, "--out", str(tmp_path / "resumed"), "--resume")
    assert second.returncode == 0, second.stderr[-3000:]
    a = load_file(tmp_path / "straight" / "export" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "export" / "model.safetensors")
    assert a.keys() == b.keys()
    assert all((a[k] == b[k]).all() for k in a), "resumed weights differ from the uninterrupted run"
    assert _losses(tmp_path / "straight", "tokenizer") == _losses(tmp_path / "resumed", "tokenizer")


@pytest.mark.deepspeed
def test_non_finite_loss_stops_with_the_step_and_saves_nothing(tmp_path, mujoco_dir):
    out = _train("--stage", "tokenizer", "--data", str(mujoco_dir), "--out", str(tmp_path / "r"), "--steps", "20",
                 *fast(lr="1e12"), "--save-every", "100")
    assert out.returncode == 2
    assert "non-finite tokenizer loss at step" in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert not (tmp_path / "r" / "export").exists()


@pytest.mark.deepspeed
@pytest.mark.parametrize("args,message", [
    (["--data", "/nonexistent/ds"], "does not exist"),
    (["--preset", "gigantic"], "unknown preset 'gigantic'"),
    (["--deepspeed", "BADJSON"], "does not parse"),
    (["--resume"], "no checkpoint to resume from"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, mujoco_dir, args, message):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    args = [str(bad) if a == "BADJSON" else a for a in args]
    base = {"--data": str(mujoco_dir), "--preset": "tiny"}
    for flag in ("--data", "--preset"):
        if flag not in args:
            args = [flag, base[flag], *args]
    out = _train("--stage", "tokenizer", "--out", str(tmp_path / "run"), *args)
    assert out.returncode == 2 and message in out.stderr and out.stderr.count("\n") == 1, out.stderr


@pytest.mark.deepspeed
@pytest.mark.parametrize("stage", ["lam", "dynamics"])
def test_later_phases_need_the_earlier_ones(tmp_path, mujoco_dir, stage):
    out = _train("--stage", stage, "--data", str(mujoco_dir), "--out", str(tmp_path / "run"))
    assert out.returncode == 2 and "starts from the earlier phases' weights" in out.stderr and "--stage tokenizer" in out.stderr


def test_zero3_config_for_the_robotics_preset():
    from training.train import check_batch_arithmetic

    cfg = json.loads((REPO / "training" / "ds_zero3_bf16.json").read_text())
    assert cfg["zero_optimization"]["stage"] == 3 and cfg["bf16"]["enabled"]
    slots = [int(line.split("slots=")[1]) for line in (REPO / "training" / "hostfile.example").read_text().splitlines()
             if line and not line.startswith("#")]
    world = sum(slots)
    assert cfg["train_batch_size"] == cfg["train_micro_batch_size_per_gpu"] * cfg["gradient_accumulation_steps"] * world
    check_batch_arithmetic(cfg, world)
    total = count_parameters(preset("robotics-2.5b"))["total"]
    assert abs(total - 2.5e9) <= 0.05 * 2.5e9


def test_every_shipped_deepspeed_config_parses():
    from training.train import check_batch_arithmetic

    for path in (REPO / "training").glob("ds_*.json"):
        check_batch_arithmetic(json.loads(path.read_text()), None, path.name)
