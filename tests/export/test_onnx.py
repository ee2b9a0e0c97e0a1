"""The ONNX export and its backend, with real ONNX Runtime sessions (step and rollout parity
with eager PyTorch: tests/models/test_rollout_backends.py). `exported`: tests/conftest.py."""
import numpy as np
import pytest
import torch

from genie_robotics.core.checkpoint_files import save_checkpoint
from genie_robotics.core.errors import GenieError
from genie_robotics.export.onnx_export import export_onnx
from genie_robotics.sim.onnx_backend import OnnxBackend
from genie_robotics.sim.rollout_backend import TorchBackend
from genie_robotics.sim.world_model import WorldModel


def test_cpu_provider_is_reported(exported):
    backend = OnnxBackend(exported[1])
    assert backend.provider == "CPUExecutionProvider" and backend.host_threads == 1


def test_not_an_export_and_unknown_provider(exported, tmp_path):
    with pytest.raises(GenieError, match="is not an ONNX export"):
        OnnxBackend(tmp_path)
    with pytest.raises(GenieError, match="providers not available: NopeExecutionProvider"):
        OnnxBackend(exported[1], providers=["NopeExecutionProvider"])


def test_dynamic_batch_export_rolls_out_a_batch_like_torch(exported, tmp_path):
    genie, static = exported
    ckpt = save_checkpoint(genie, tmp_path / "ckpt")
    dynamic = export_onnx(ckpt, tmp_path / "onnx", dynamic_batch=True)
    prompts = np.random.default_rng(3).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    actions = [[0, 1, 2, 3, 4, 5], [7, 7, 7, 7, 7, 7], [2, 6, 2, 6, 2, 6]]  # 6 steps: the 4-frame cache slides
    a = WorldModel(OnnxBackend(dynamic), maskgit_steps=1, seed=4).rollout(prompts, actions)  # 1 step: see above
    b = WorldModel(genie, maskgit_steps=1, seed=4).rollout(prompts, actions)
    assert a.shape == (3, 7, 64, 64, 3) and np.abs(a.astype(int) - b).max() <= 1
    single = WorldModel(OnnxBackend(dynamic), maskgit_steps=1, seed=4).rollout(prompts[:1], actions[:1])
    static_single = WorldModel(OnnxBackend(static), maskgit_steps=1, seed=4).rollout(prompts[:1], actions[:1])
    assert np.abs(single.astype(int) - static_single).max() <= 1


def test_batch_other_than_one_is_refused(exported):
    with pytest.raises(GenieError, match="batch 1"):
        WorldModel(OnnxBackend(exported[1])).reset(np.zeros((2, 64, 64, 3), np.uint8))


def test_export_cli(tmp_path):
    import json
    import subprocess
    import sys

    from genie_robotics.core.assets import SHIPPED_CHECKPOINT

    run = subprocess.run([sys.executable, "-m", "genie_robotics.cli", "export", str(SHIPPED_CHECKPOINT),
                          "--out", str(tmp_path / "onnx")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    meta = json.loads((tmp_path / "onnx" / "genie_onnx.json").read_text())
    from genie_robotics.models.checkpoint import load_checkpoint

    shipped = load_checkpoint(SHIPPED_CHECKPOINT).cfg.dynamics  # the sampling defaults travel with the export
    assert meta["num_actions"] == 8 and meta["context_frames"] == 16
    assert (meta["maskgit"]["steps"], meta["maskgit"]["temperature"]) == (shipped.maskgit_steps, shipped.temperature)
    assert set(meta["graphs"]) == {"encoder", "dynamics_step", "dynamics_commit", "decoder_step"}
    bad = subprocess.run([sys.executable, "-m", "genie_robotics.cli", "export", str(tmp_path / "none"), "--out",
                          str(tmp_path / "x")], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "does not exist" in bad.stderr


def test_onnx_backend_on_a_checkpoint_leaves_no_temporary_export(tmp_path, monkeypatch):
    import tempfile

    import numpy as np

    from genie_robotics.core.assets import SHIPPED_CHECKPOINT
    from genie_robotics.sim.onnx_backend import OnnxBackend
    from genie_robotics.sim.world_model import load_world_model

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    world = load_world_model(SHIPPED_CHECKPOINT, "onnx", maskgit_steps=1)
    assert isinstance(world.backend, OnnxBackend) and list(tmp_path.iterdir()) == []
    world.reset(np.zeros((64, 64, 3), np.uint8))
    assert world.step(3).shape == (64, 64, 3)  # the sessions run after their files are gone


def test_a_batch_one_export_refuses_several_worlds_in_one_line(exported):
    from genie_robotics.sim.world_model import load_world_model

    with pytest.raises(GenieError, match="exported for batch 1.*--dynamic-batch"):
        load_world_model(exported[1], "onnx", batched=True)


def test_a_reused_input_tensor_is_read_afresh_at_every_run(exported):
    """Inputs stay bound between runs when their memory and shape are unchanged (the caches during
    a frame's MaskGIT iterations): the graph must still read what that memory holds now."""
    genie, out = exported
    onnx_backend, torch_backend = OnnxBackend(out), TorchBackend(genie)
    N, V = genie.cfg.tokens_per_frame, genie.cfg.tokenizer.quantizer.num_codes
    cache = onnx_backend.empty_caches(1)[0]
    tokens = torch.zeros(1, N, dtype=torch.long)
    action = torch.tensor([2])
    for fill in (0, 5, V - 1):
        tokens.fill_(fill)  # the same tensor, new contents
        with torch.no_grad():
            got = onnx_backend.probabilities(tokens, action, cache, 1.0)  # the MaskGIT iterations' path
            want = torch_backend.probabilities(tokens, action, cache, 1.0)
        assert (got - want).abs().max().item() <= 1e-5, fill


def test_an_export_in_another_format_is_refused_with_a_hint(exported, tmp_path):
    import json
    import shutil

    stale = shutil.copytree(exported[1], tmp_path / "stale")
    meta = json.loads((stale / "genie_onnx.json").read_text())
    (stale / "genie_onnx.json").write_text(json.dumps({**meta, "format": "genie_robotics onnx v1"}))
    with pytest.raises(GenieError, match="onnx v1.*export the checkpoint again"):
        OnnxBackend(stale)


def test_the_command_map_travels_with_the_export_and_drives_onnx_like_torch(tmp_path):
    from genie_robotics.commands import COMMAND_MAP_FILE, codebook_digest, fit_command_map
    from genie_robotics.models.genie import Genie
    from genie_robotics.sim.world_model import load_world_model
    from tests.helpers import small_config

    torch.manual_seed(0)
    genie = Genie(small_config()).eval()
    ckpt = save_checkpoint(genie, tmp_path / "ckpt")
    rng = np.random.default_rng(0)
    commands = rng.normal(0, 0.04, (100, 3))
    codes = (commands[:, 0] > 0).astype(int) * 2 + (commands[:, 2] > 0)
    fit_command_map(commands, codes, genie.cfg.num_actions, 10.0, codebook_digest(genie.lam.quantizer.codebook)).save(ckpt)
    out = export_onnx(ckpt, tmp_path / "onnx")
    assert (out / COMMAND_MAP_FILE).read_text() == (ckpt / COMMAND_MAP_FILE).read_text()
    prompt = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    frames = {}
    for name, path, backend in (("onnx", out, "onnx"), ("torch", ckpt, "torch")):
        world = load_world_model(path, backend, seed=4, maskgit_steps=1)
        world.reset(prompt)
        frames[name] = [world.step(command=c) for c in ([0.04, 0, 0], [0, 0, -0.04], [-0.04, 0, 0.04])]
        frames[name + "_actions"] = int(world.last_actions[0])
    assert frames["onnx_actions"] == frames["torch_actions"] == 1  # x < 0, z > 0
    assert all(np.abs(a.astype(int) - b).max() <= 1 for a, b in zip(frames["onnx"], frames["torch"]))
