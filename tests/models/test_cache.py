"""The temporal key/value cache must give the logits of recomputing the whole history."""
import numpy as np
import torch

from genie_robotics.sim.world_model import WorldModel


def test_dynamics_step_matches_recompute_before_and_after_the_window_slides(tiny_genie):
    dyn = tiny_genie.dynamics
    T, N = 9, tiny_genie.cfg.tokens_per_frame  # the window is 4 frames: it slides from frame 4 on
    tokens = torch.randint(0, 256, (2, T, N))
    codes = tiny_genie.lam.action_codes(torch.randint(0, 8, (2, T - 1)))
    # The last frame is half masked, as in the middle of MaskGIT sampling.
    tokens[:, -1, ::2] = dyn.mask_id
    with torch.no_grad():
        full = dyn(tokens, codes)
        cache = dyn.empty_cache(2)
        worst = 0.0
        for t in range(T):
            logits, k, v = dyn.step(tokens[:, t], None if t == 0 else codes[:, t - 1], cache)
            worst = max(worst, (logits - full[:, t]).abs().max().item())
            cache = cache.append(k, v)
    assert worst <= 1e-5


def test_cached_and_recomputed_rollouts_agree(tiny_genie):
    prompts = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    actions = [[0, 1, 2, 3, 4, 5, 6], [7, 7, 7, 7, 7, 7, 7]]  # longer than the 4-frame window
    cached = WorldModel(tiny_genie, maskgit_steps=3, seed=5).rollout(prompts, actions)
    recomputed = WorldModel(tiny_genie, maskgit_steps=3, seed=5, use_cache=False).rollout(prompts, actions)
    assert cached.shape == (2, 8, 64, 64, 3) and cached.dtype == np.uint8
    # Same sampled tokens; decoded pixels may differ by a rounding step at most.
    assert np.abs(cached.astype(int) - recomputed).max() <= 1


def test_a_commit_appends_what_the_full_step_computes(tiny_genie):
    """A commit stops after the last layer's keys/values; they must equal the full step's."""
    from genie_robotics.sim.rollout_backend import TorchBackend

    backend = TorchBackend(tiny_genie)
    tokens = torch.randint(0, 256, (2, tiny_genie.cfg.tokens_per_frame), generator=torch.Generator().manual_seed(4))
    committed, appended = backend.empty_caches(2)[0], backend.empty_caches(2)[0]
    with torch.no_grad():
        for t in range(3):
            action = None if t == 0 else torch.tensor([t, 7 - t])
            logits, k, v = backend.dynamics_step(tokens, action, appended)
            assert logits is not None
            appended = appended.append(k, v)
            committed = backend.commit(tokens, action, committed)
    assert torch.equal(committed.rotated_keys_LXHCD, appended.rotated_keys_LXHCD)
    assert torch.equal(committed.values_LXHCD, appended.values_LXHCD)
