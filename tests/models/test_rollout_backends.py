"""The fast backends against eager PyTorch on the same weights, step by step and over a whole
rollout: ONNX Runtime (real sessions on the exported graphs) and torch.compile (real Inductor
code). `exported` (tests/conftest.py): an untrained Genie with a 4-frame window and its export."""
from dataclasses import astuple

import numpy as np
import pytest
import torch

from genie_robotics.sim.onnx_backend import OnnxBackend
from genie_robotics.sim.rollout_backend import TorchBackend
from genie_robotics.sim.world_model import WorldModel

CANDIDATES = {
    "onnx": lambda genie, export_dir: OnnxBackend(export_dir),
    "torch-compiled": lambda genie, export_dir: TorchBackend(genie, compile=True),
}


@pytest.fixture(scope="module", params=[pytest.param(name, marks=pytest.mark.compile) if name == "torch-compiled" else name
                                        for name in sorted(CANDIDATES)])
def candidate(request, exported):
    """(a fast backend on `exported`'s weights, eager PyTorch on the same)."""
    genie, export_dir = exported
    return CANDIDATES[request.param](genie, export_dir), TorchBackend(genie)


def test_dynamics_and_decoder_steps_match_eager_with_full_and_sliding_cache(candidate, exported):
    backends = dict(zip(("fast", "eager"), candidate))
    genie = exported[0]
    N = genie.cfg.tokens_per_frame
    g = torch.Generator().manual_seed(1)
    caches = {name: backend.empty_caches(1) for name, backend in backends.items()}
    worst_logits = worst_frame = 0.0
    for t in range(7):  # the cache fills after 3 frames and slides after that
        tokens = torch.randint(0, genie.cfg.tokenizer.quantizer.num_codes, (1, N), generator=g)
        action = None if t == 0 else torch.tensor([t % 8])
        outs = {}
        for name, backend in backends.items():
            with torch.no_grad():
                logits, k, v = backend.dynamics_step(tokens, action, caches[name][0])
                frame, decoder_cache = backend.decode(tokens, caches[name][1])
            # The commit (ONNX Runtime: its own graph) must append the same keys/values.
            caches[name] = (backend.commit(tokens, action, caches[name][0]), decoder_cache)
            outs[name] = (logits, frame)
        worst_logits = max(worst_logits, (outs["fast"][0] - outs["eager"][0]).abs().max().item())
        worst_frame = max(worst_frame, (outs["fast"][1] - outs["eager"][1]).abs().max().item())
    assert worst_logits <= 1e-4 and worst_frame <= 1e-4, (worst_logits, worst_frame)
    for which in (0, 1):  # dynamics, decoder
        for fast_part, eager_part in zip(*(astuple(caches[name][which]) for name in ("fast", "eager"))):
            if isinstance(fast_part, torch.Tensor):
                assert (fast_part.float() - eager_part.float()).abs().max().item() <= 1e-4


def test_rollout_equals_eager_rollout(candidate):
    fast, eager = candidate
    prompt = np.random.default_rng(2).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    actions = [[3, 1, 4, 1, 5, 2, 6]]
    # One MaskGIT step: an untrained model's token confidences have near-ties that 1e-6 logit
    # differences reorder; the ranking is host code every backend shares (tested in test_maskgit).
    a = WorldModel(fast, maskgit_steps=1, seed=9).rollout(prompt, actions)
    b = WorldModel(eager, maskgit_steps=1, seed=9).rollout(prompt, actions)
    assert a.shape == (1, 8, 64, 64, 3) and np.abs(a.astype(int) - b).max() <= 1


def test_probabilities_at_the_sampling_temperature_match_eager(candidate, exported):
    """The softmax at the temperature is part of the fast path (in the ONNX graph; in the compiled
    function, with the temperature a tensor so that a new value needs no new compile)."""
    fast, eager = candidate
    genie = exported[0]
    N, V = genie.cfg.tokens_per_frame, genie.cfg.tokenizer.quantizer.num_codes
    tokens = torch.randint(0, V + 1, (1, N), generator=torch.Generator().manual_seed(3))  # some masked
    cache = fast.empty_caches(1)[0]
    seen = {}
    for temperature in (0.5, 2.0):
        with torch.no_grad():
            got = fast.probabilities(tokens, torch.tensor([4]), cache, temperature).clone()
            want = eager.probabilities(tokens, torch.tensor([4]), cache, temperature)
        assert (got - want).abs().max().item() <= 1e-5, temperature
        assert torch.allclose(got.sum(-1), torch.ones(1, N), atol=1e-5)
        seen[temperature] = got
    assert (seen[0.5].amax(-1) > seen[2.0].amax(-1)).all()  # colder: sharper


@pytest.mark.compile
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: the compiled path on a GPU uses CUDA graphs "
                                                          "(mode reduce-overhead), which do not exist on CPU")
def test_compiled_cuda_graph_rollout_equals_eager_on_the_gpu(exported):
    """Same seed, same frames: eager PyTorch and the CUDA-graph path on a GPU. The frames a
    reset and a step return must outlive the graphs' next replays (they reuse output memory)."""
    import copy

    genie = copy.deepcopy(exported[0])  # moved to the GPU; the shared fixture stays on the CPU
    prompt = np.random.default_rng(2).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    actions = [[3, 1, 4, 1, 5, 2, 6]]
    eager = WorldModel(TorchBackend(genie, "cuda"), maskgit_steps=1, seed=9).rollout(prompt, actions)
    compiled = WorldModel(TorchBackend(genie, "cuda", compile=True), maskgit_steps=1, seed=9).rollout(prompt, actions)
    assert np.abs(compiled.astype(int) - eager).max() <= 1
