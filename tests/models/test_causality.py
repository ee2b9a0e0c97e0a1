"""Changing frame t+1 must leave every output at <= t unchanged."""
import torch


def _clip(T=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (2, T, 64, 64, 3), dtype=torch.uint8, generator=g)


def _perturb(frames, t):
    out = frames.clone()
    out[:, t] = 255 - out[:, t]
    return out


def test_tokenizer_encoder_is_causal(tiny_genie):
    x = _clip()
    with torch.no_grad():
        a = tiny_genie.tokenizer.quantize(x).codes
        b = tiny_genie.tokenizer.quantize(_perturb(x, 2)).codes
    assert torch.equal(a[:, :2], b[:, :2])
    assert not torch.equal(a[:, 2], b[:, 2])


def test_tokenizer_decoder_is_causal(tiny_genie):
    tokens = torch.randint(0, 256, (2, 4, tiny_genie.cfg.tokens_per_frame))
    changed = tokens.clone()
    changed[:, 2] = (changed[:, 2] + 1) % 256
    with torch.no_grad():
        a, b = tiny_genie.tokenizer.decode(tokens), tiny_genie.tokenizer.decode(changed)
    assert torch.equal(a[:, :2], b[:, :2])
    assert not torch.equal(a[:, 2], b[:, 2])


def test_lam_latent_t_uses_frames_up_to_t_plus_1_only(tiny_genie):
    x = _clip()
    with torch.no_grad():
        a = tiny_genie.lam.infer(x).continuous_BTD
        b = tiny_genie.lam.infer(_perturb(x, 2)).continuous_BTD
    # Latent t describes the transition t -> t+1: changing frame 2 changes latents 1 and 2 only.
    assert torch.equal(a[:, 0], b[:, 0])
    assert not torch.equal(a[:, 1], b[:, 1])


def test_lam_decoder_draws_the_next_frame_from_the_current_frame_alone(tiny_genie):
    x = _clip()
    codes = tiny_genie.lam.action_codes(torch.randint(0, 8, (2, 3)))
    with torch.no_grad():
        a = tiny_genie.lam.reconstruct_next(x, codes)
        b = tiny_genie.lam.reconstruct_next(_perturb(x, 3), codes)  # the last frame is only a target
        c = tiny_genie.lam.reconstruct_next(_perturb(x, 1), codes)
    assert torch.equal(a, b)
    # Frame 1 feeds the prediction of frame 2 and nothing else: the decoder sees no history,
    # so the latent action is its only source for what changes.
    assert torch.equal(a[:, 0], c[:, 0]) and not torch.equal(a[:, 1], c[:, 1]) and torch.equal(a[:, 2], c[:, 2])


def test_dynamics_is_causal(tiny_genie):
    tokens = torch.randint(0, 256, (2, 4, tiny_genie.cfg.tokens_per_frame))
    codes = tiny_genie.lam.action_codes(torch.randint(0, 8, (2, 3)))
    changed = tokens.clone()
    changed[:, 2] = (changed[:, 2] + 7) % 256
    changed_codes = codes.clone()
    changed_codes[:, 2] = tiny_genie.lam.action_codes(torch.tensor([5, 6]))  # action into frame 3
    with torch.no_grad():
        a = tiny_genie.dynamics(tokens, codes)
        b = tiny_genie.dynamics(changed, codes)
        c = tiny_genie.dynamics(tokens, changed_codes)
    assert torch.equal(a[:, :2], b[:, :2]) and not torch.equal(a[:, 2], b[:, 2])
    assert torch.equal(a[:, :3], c[:, :3]) and not torch.equal(a[:, 3], c[:, 3])
