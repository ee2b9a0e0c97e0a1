import numpy as np
import pytest

from genie_robotics.core.errors import GenieError
from genie_robotics.sim.world_model import WorldModel


@pytest.fixture
def world(tiny_genie):
    return WorldModel(tiny_genie, maskgit_steps=2, seed=0)


def test_reset_and_step_return_frames(world):
    prompt = np.zeros((64, 64, 3), np.uint8)
    assert world.reset(prompt).shape == (64, 64, 3)
    for a in range(8):
        frame = world.step(a)
        assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    assert world.state.frames == 9


def test_same_seed_same_rollout(tiny_genie):
    prompt = np.full((64, 64, 3), 100, np.uint8)
    runs = []
    for _ in range(2):
        w = WorldModel(tiny_genie, maskgit_steps=2, seed=3)
        w.reset(prompt)
        runs.append(np.stack([w.step(a) for a in (1, 2, 3)]))
    assert np.array_equal(runs[0], runs[1])


@pytest.mark.parametrize("action", [8, -1, 1.5, [1, 2, 3]])
def test_bad_action_is_one_clear_error(world, action):
    world.reset(np.zeros((2, 64, 64, 3), np.uint8))
    with pytest.raises(GenieError) as err:
        world.step(action)
    assert "action" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("shape,dtype", [((32, 32, 3), np.uint8), ((64, 64), np.uint8), ((64, 64, 3), np.float32)])
def test_prompt_of_wrong_shape_or_type_is_one_clear_error(world, shape, dtype):
    with pytest.raises(GenieError, match=r"prompt must be a uint8 image of shape \(64, 64, 3\)"):
        world.reset(np.zeros(shape, dtype))


def test_step_before_reset(world):
    with pytest.raises(GenieError, match="reset"):
        world.step(0)


def test_torch_runs_on_the_backends_host_threads_during_a_step_and_is_restored(tiny_genie):
    """A backend with its own thread pool (ONNX Runtime on CPU) asks for torch on one thread
    between its calls; the setting holds inside reset/step only."""
    import torch

    from genie_robotics.sim.rollout_backend import TorchBackend

    class OneThreadBackend(TorchBackend):
        host_threads = 1
        seen: list[int] = []

        def dynamics_step(self, tokens_BN, actions_B, cache, keys_values_only=False):
            self.seen.append(torch.get_num_threads())
            return super().dynamics_step(tokens_BN, actions_B, cache, keys_values_only)

        def probabilities(self, tokens_BN, actions_B, cache, temperature):
            self.seen.append(torch.get_num_threads())
            return super().probabilities(tokens_BN, actions_B, cache, temperature)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        world = WorldModel(OneThreadBackend(tiny_genie), maskgit_steps=2)
        world.reset(np.zeros((64, 64, 3), np.uint8))
        world.step(1)
        assert OneThreadBackend.seen == [1, 1, 1, 1]  # reset's commit, 2 MaskGIT iterations, the commit
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_backend_names_choose_the_backend_and_an_unknown_one_is_one_clear_error():
    from genie_robotics.core.assets import SHIPPED_CHECKPOINT
    from genie_robotics.sim.rollout_backend import TorchBackend
    from genie_robotics.sim.world_model import load_world_model

    eager, compiled = (load_world_model(SHIPPED_CHECKPOINT, name).backend for name in ("torch", "torch-compiled"))
    assert type(eager) is TorchBackend and eager.name == "torch"  # noqa: E721 (exactly this class)
    assert type(compiled) is TorchBackend and compiled.name == "torch (compiled)"  # noqa: E721
    # torch.compile's wrappers, lazy (nothing compiles before a step); the eager backend has none.
    assert all(hasattr(fn, "_torchdynamo_orig_callable") for fn in (compiled._step, compiled._probabilities))
    assert not hasattr(eager._step, "_torchdynamo_orig_callable")
    with pytest.raises(GenieError, match="backend must be one of auto, onnx, torch, torch-compiled, got 'tpu'"):
        load_world_model(SHIPPED_CHECKPOINT, "tpu")


def test_compiling_for_cpu_without_a_cpp_compiler_is_one_clear_error(tmp_path):
    import os
    import subprocess
    import sys

    code = ("from genie_robotics.core.assets import SHIPPED_CHECKPOINT\n"
            "from genie_robotics.sim.world_model import load_world_model\n"
            "load_world_model(SHIPPED_CHECKPOINT, 'torch-compiled')")
    env = {k: v for k, v in os.environ.items() if k != "CXX"} | {"PATH": str(tmp_path)}  # no g++ on it
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode != 0 and "needs a C++ compiler (g++, or $CXX)" in run.stderr


def test_warm_up_leaves_a_seeds_rollout_unchanged_and_asks_for_a_reset(tiny_genie):
    prompt = np.random.default_rng(1).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    fresh = WorldModel(tiny_genie, maskgit_steps=2, seed=5).rollout(prompt, [[1, 2], [3, 4]])
    warmed = WorldModel(tiny_genie, maskgit_steps=2, seed=5)
    assert warmed.warm_up(prompt) > 0
    with pytest.raises(GenieError, match="call reset"):
        warmed.step(1)
    assert np.array_equal(warmed.rollout(prompt, [[1, 2], [3, 4]]), fresh)


@pytest.mark.parametrize("backend", ["cached", "full-history"])
def test_worlds_that_share_a_prompt_start_from_the_contexts_each_would_have_computed(tiny_genie, backend):
    import torch

    from genie_robotics.sim.rollout_backend import FullHistoryBackend, TorchBackend

    rng = np.random.default_rng(2)
    p, q = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    prompts_BHWC = np.stack([p, q, p, p])  # worlds 0, 2 and 3 share a prompt: computed once
    world = WorldModel(TorchBackend(tiny_genie) if backend == "cached" else FullHistoryBackend(tiny_genie), seed=0)
    first_BHWC = world.reset(prompts_BHWC)
    assert np.array_equal(first_BHWC[0], first_BHWC[2]) and np.array_equal(first_BHWC[0], first_BHWC[3])

    b = world.backend  # what each world would have had, computed for the whole batch
    tokens_BN = b.encode(torch.as_tensor(prompts_BHWC))
    dynamics, decoder = b.empty_caches(4)
    frame_BHWC, decoder = b.decode(tokens_BN, decoder)
    dynamics = b.commit(tokens_BN, None, dynamics)
    assert np.abs(WorldModel._out(frame_BHWC, False).astype(int) - first_BHWC).max() <= 1
    (only,) = world.state.chunks  # 4 worlds: one chunk
    for got, want in ((only.dynamics_context, dynamics), (only.decoder_context, decoder)):
        if backend == "cached":
            assert got.newest == want.newest and torch.equal(got.valid_C, want.valid_C)
            pairs = ((got.values_LXHCD, want.values_LXHCD), (got.rotated_keys_LXHCD, want.rotated_keys_LXHCD))
        else:
            pairs = tuple((g, w) for g, w in ((got.tokens_BTN, want.tokens_BTN), (got.codes_BTD, want.codes_BTD))
                          if w is not None)
        for g, w in pairs:
            assert g.shape == w.shape and torch.allclose(g.float(), w.float(), atol=1e-4)
    assert world.step(np.arange(4)).shape == (4, 64, 64, 3)  # the copied contexts roll on independently


def test_warm_up_runs_one_world_unless_the_backend_prepares_per_batch_size(tiny_genie):
    from genie_robotics.sim.rollout_backend import TorchBackend

    seen = []

    class Recording(TorchBackend):
        def encode(self, frames_BHWC):
            seen.append(frames_BHWC.shape[0])
            return super().encode(frames_BHWC)

    prompts = np.random.default_rng(3).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    backend = Recording(tiny_genie)
    WorldModel(backend).warm_up(prompts)
    backend.warms_per_batch = True
    WorldModel(backend).warm_up(prompts)
    assert seen == [1, 3]


@pytest.mark.parametrize("backend, unmasking", [("cached", "confidence"), ("full-history", "confidence"),
                                                ("cached", "random")])
def test_worlds_stepped_in_chunks_give_the_frames_of_one_call(tiny_genie, backend, unmasking):
    """A CPU backend steps a big batch a few worlds per call (`world_chunk`); a seed's frames
    must not depend on that split, whatever the prompts and MaskGIT steps."""
    from genie_robotics.sim.rollout_backend import FullHistoryBackend, TorchBackend

    rng = np.random.default_rng(3)
    p, q = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    prompts_BHWC = np.stack([p, q, p, p, q])
    actions_BT = rng.integers(0, tiny_genie.cfg.num_actions, (5, 5))
    rollouts = {}
    for chunk in (None, 2):
        b = TorchBackend(tiny_genie) if backend == "cached" else FullHistoryBackend(tiny_genie)
        b.world_chunk = chunk
        world = WorldModel(b, maskgit_steps=2, temperature=1.0, unmasking=unmasking, seed=4)
        rollouts[chunk] = world.rollout(prompts_BHWC, actions_BT)
        assert len(world.state.chunks) == (1 if chunk is None else 3)
    assert rollouts[None].shape == (5, 6, 64, 64, 3)
    # Another batch shape rounds the matmuls differently; on this untrained model's near-uniform
    # probabilities that can flip a borderline token draw, and the frames after it follow.
    # Anything more than a rare frame would mean the chunks drew other numbers or read other worlds.
    differs_BT = (np.abs(rollouts[None].astype(int) - rollouts[2]) > 1).any(axis=(2, 3, 4))
    assert not differs_BT[:, :2].any() and differs_BT.mean() <= 0.1, differs_BT


def test_cpu_world_chunk_keeps_activations_small():
    from genie_robotics.core.config import preset
    from genie_robotics.sim.rollout_backend import CHUNK_ACTIVATION_BYTES, cpu_world_chunk

    tiny = preset("tiny")
    assert cpu_world_chunk(tiny) == 16  # 256 tokens x 4 heads x 256 scores x 4 bytes = 1 MB per world
    big = preset("robotics-2.5b")
    assert cpu_world_chunk(big) >= 1
    N = big.tokens_per_frame
    assert cpu_world_chunk(big) == 1 or 4 * N * N * big.dynamics.transformer.heads * cpu_world_chunk(big) <= CHUNK_ACTIVATION_BYTES
