"""Self-forcing: the dynamics model's own rollout, and training clips that see it as context."""
import dataclasses

import torch

from genie_robotics.models.genie import Genie
from tests.helpers import small_config


def _greedy_genie(self_forcing: float) -> Genie:
    """An untrained model (4-frame window) that samples greedily in one MaskGIT step."""
    cfg = small_config(frames=4)
    cfg = dataclasses.replace(cfg, dynamics=dataclasses.replace(
        cfg.dynamics, temperature=0.0, maskgit_steps=1, self_forcing=self_forcing, mask_rate_min=0.5))
    torch.manual_seed(0)
    return Genie(cfg).eval()


def _clip(genie: Genie, T: int):
    g = torch.Generator().manual_seed(1)
    tokens_BTN = torch.randint(0, genie.dynamics.vocab, (2, T, genie.cfg.tokens_per_frame), generator=g)
    codes_BTD = torch.randn(2, T - 1, genie.cfg.lam.quantizer.code_dim, generator=g)
    return tokens_BTN, codes_BTD


def test_rollout_matches_the_parallel_forward_pass_past_the_window():
    """Frame t of a greedy rollout (cached, one frame at a time, the ring wrapping after 4
    frames) is the argmax the whole-clip forward pass gives frame t masked after the rollout's
    own frames < t: the context training sees is the one generation builds."""
    genie = _greedy_genie(0.0)
    tokens_BTN, codes_BTD = _clip(genie, T=7)
    own_BTN = genie.dynamics.rollout(tokens_BTN, codes_BTD)
    assert own_BTN.shape == tokens_BTN.shape
    assert torch.equal(own_BTN[:, 0], tokens_BTN[:, 0])
    assert not torch.equal(own_BTN[:, 1:], tokens_BTN[:, 1:])  # an untrained model does not reproduce the clip
    with torch.no_grad():
        for t in range(1, 7):
            inputs_BTN = own_BTN[:, : t + 1].clone()
            inputs_BTN[:, t] = genie.dynamics.mask_id
            logits_BNV = genie.dynamics(inputs_BTN, codes_BTD[:, :t])[:, t]
            assert torch.equal(logits_BNV.argmax(-1), own_BTN[:, t]), f"frame {t}"


def test_self_forced_clips_see_the_rollout_and_learn_the_true_frames(monkeypatch):
    genie = _greedy_genie(1.0)
    tokens_BTN, codes_BTD = _clip(genie, T=6)
    own_BTN = genie.dynamics.rollout(tokens_BTN, codes_BTD)
    seen = {}
    hidden = genie.dynamics.hidden

    def spy(inputs_BTN, action_codes_BTD):
        seen["inputs"] = inputs_BTN
        return hidden(inputs_BTN, action_codes_BTD)

    monkeypatch.setattr(genie.dynamics, "hidden", spy)
    genie.train_stage_mode("dynamics")
    terms = genie.dynamics.loss(tokens_BTN, codes_BTD, torch.Generator().manual_seed(0))
    visible_BTN = seen["inputs"] != genie.dynamics.mask_id
    assert visible_BTN[:, 1:].any()
    assert torch.equal(seen["inputs"][visible_BTN], own_BTN[visible_BTN])
    terms["loss"].backward()
    assert genie.dynamics.head.weight.grad is not None and torch.isfinite(terms["loss"])

    # Without self-forcing the same draw shows the true tokens (and the loss differs).
    clean = _greedy_genie(0.0)
    monkeypatch.setattr(clean.dynamics, "hidden", spy)
    clean_terms = clean.dynamics.loss(tokens_BTN, codes_BTD, torch.Generator().manual_seed(0))
    visible_BTN = seen["inputs"] != clean.dynamics.mask_id
    assert torch.equal(seen["inputs"][visible_BTN], tokens_BTN[visible_BTN])
    assert not torch.isclose(clean_terms["loss"], terms["loss"])
