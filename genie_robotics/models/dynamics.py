"""Dynamics model: a decoder-only MaskGIT transformer over video tokens (Genie, Sec. 2.1).

Input: token frames z[1:T] where frames 2..T are partly replaced by a mask token, plus
stop-gradient latent actions added as embeddings: frame t+1 receives the code of a[t] (the
transition t -> t+1), frame 1 a learned "no action" vector. With causal temporal attention,
frame t+1's logits see frames <= t, its own unmasked tokens and a[t], and are trained with
cross-entropy on the masked tokens (mask rate ~ U(0.5, 1) per clip). With `context_noise_max`,
some unmasked tokens after frame 0 are replaced by random codes, so the model learns not to copy
the mistakes a rollout's own frames bring into its context. With `self_forcing`, that share of
clips sees, after frame 0, the frames the model itself generates from frame 0 and the clip's
codes (sampled as a rollout samples), while the targets stay the true frames: the model learns
to predict the world from the context a rollout really gives it, drift and all.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genie_robotics.core.config import GenieConfig
from genie_robotics.models.maskgit import MIN_TEMPERATURE, maskgit_sample, token_probabilities
from genie_robotics.nn.st_transformer import STTransformer, TemporalCache


class DynamicsModel(nn.Module):
    def __init__(self, cfg: GenieConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.dynamics.transformer.dim
        self.vocab = cfg.tokenizer.quantizer.num_codes
        self.mask_id = self.vocab
        self.token_emb = nn.Embedding(self.vocab + 1, d)
        self.pos = nn.Parameter(torch.randn(cfg.tokens_per_frame, d) * 0.02)
        self.action_in = nn.Linear(cfg.lam.quantizer.code_dim, d)
        self.no_action = nn.Parameter(torch.zeros(d))
        self.transformer = STTransformer(cfg.dynamics.transformer, cfg.frames)
        self.head = nn.Linear(d, self.vocab)

    def _inputs(self, tokens_BTN: torch.Tensor, action_emb_BTD: torch.Tensor) -> torch.Tensor:
        return self.token_emb(tokens_BTN) + self.pos + action_emb_BTD[:, :, None]

    def hidden(self, tokens_BTN: torch.Tensor, action_codes_BTD: torch.Tensor) -> torch.Tensor:
        """The transformer's output [B, T, N, dim], before the logits head."""
        B = tokens_BTN.shape[0]
        first = self.no_action.expand(B, 1, -1)
        action_emb = torch.cat((first, self.action_in(action_codes_BTD)), dim=1)
        return self.transformer(self._inputs(tokens_BTN, action_emb))

    def forward(self, tokens_BTN: torch.Tensor, action_codes_BTD: torch.Tensor) -> torch.Tensor:
        """Logits [B, T, N, V]; `action_codes_BTD` holds the T-1 transition codes a[1:T-1]."""
        return self.head(self.hidden(tokens_BTN, action_codes_BTD))

    def loss(
        self, tokens_BTN: torch.Tensor, action_codes_BTD: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """MaskGIT cross-entropy on masked tokens of frames 2..T."""
        B, T, N = tokens_BTN.shape
        dc = self.cfg.dynamics
        dev = tokens_BTN.device
        rate_B = dc.mask_rate_min + (dc.mask_rate_max - dc.mask_rate_min) * torch.rand(B, generator=generator, device=dev)
        mask_BTN = torch.rand(B, T, N, generator=generator, device=dev) < rate_B[:, None, None]
        mask_BTN[:, 0] = False
        context_BTN = tokens_BTN
        if dc.self_forcing > 0:
            own_B = torch.rand(B, generator=generator, device=dev) < dc.self_forcing
            if bool(own_B.any()):
                context_BTN = tokens_BTN.clone()
                context_BTN[own_B] = self.rollout(tokens_BTN[own_B], action_codes_BTD[own_B], generator)
        inputs_BTN = context_BTN.masked_fill(mask_BTN, self.mask_id)
        if dc.context_noise_max > 0:  # mistakes in the context, as in a rollout (frame 0 stays a real frame)
            noise_B = dc.context_noise_max * torch.rand(B, generator=generator, device=dev)
            noisy_BTN = (torch.rand(B, T, N, generator=generator, device=dev) < noise_B[:, None, None]) & ~mask_BTN
            noisy_BTN[:, 0] = False
            random_BTN = torch.randint(0, self.vocab, (B, T, N), generator=generator, device=dev)
            inputs_BTN = torch.where(noisy_BTN, random_BTN, inputs_BTN)
        hidden_BTND = self.hidden(inputs_BTN, action_codes_BTD)
        # Logits only where the loss looks (a quarter of the tokens on average are not masked).
        logits_MV = self.head(hidden_BTND[mask_BTN]).float()
        target_M = tokens_BTN[mask_BTN]
        ce = F.cross_entropy(logits_MV, target_M)
        acc = (logits_MV.argmax(-1) == target_M).float().mean()
        return {"loss": ce, "dynamics_ce": ce.detach(), "dynamics_acc": acc.detach()}

    @torch.no_grad()
    def rollout(self, tokens_BTN: torch.Tensor, action_codes_BTD: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Tokens [B, T, N] of a rollout from each clip's frame 0, driven by its T-1 codes and
        sampled with the config's MaskGIT steps, temperature, schedule and unmasking order (frame 0 kept)."""
        B, T, N = tokens_BTN.shape
        dc = self.cfg.dynamics
        temperature = max(dc.temperature, MIN_TEMPERATURE)
        cache = self.empty_cache(B, tokens_BTN.device)
        frames_BN = [tokens_BTN[:, 0]]
        cache.append(*self.step(frames_BN[0], None, cache, keys_values_only=True)[1:])
        for t in range(1, T):
            code_BD = action_codes_BTD[:, t - 1]

            def probs(masked_BN: torch.Tensor, code_BD: torch.Tensor = code_BD) -> torch.Tensor:
                logits_BNV = self.step(masked_BN, code_BD, cache)[0]
                assert logits_BNV is not None
                return token_probabilities(logits_BNV, temperature)

            frame_BN = maskgit_sample(probs, B, N, self.mask_id, dc.maskgit_steps, dc.schedule, generator,
                                      tokens_BTN.device, order=dc.unmasking)
            cache.append(*self.step(frame_BN, code_BD, cache, keys_values_only=True)[1:])
            frames_BN.append(frame_BN)
        return torch.stack(frames_BN, dim=1)

    def step(
        self, tokens_BN: torch.Tensor, action_codes_BD: torch.Tensor | None, cache: TemporalCache,
        keys_values_only: bool = False,
    ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """Logits [B, N, V] of one new frame after the cached ones, and its keys/values.

        `action_codes_BD` is the code of the action leading into this frame (None for the
        first frame of a rollout). Commit the frame with `cache.append(keys, values)`;
        `keys_values_only` computes just those (logits None): a commit needs nothing else.
        """
        B = tokens_BN.shape[0]
        emb = self.no_action.expand(B, -1) if action_codes_BD is None else self.action_in(action_codes_BD)
        return self.step_embedded(tokens_BN, emb, cache, keys_values_only)

    def step_embedded(
        self, tokens_BN: torch.Tensor, action_emb_BD: torch.Tensor, cache: TemporalCache, keys_values_only: bool = False,
    ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """`step` with the action already embedded (the ONNX graph chooses it in-graph)."""
        h, k, v = self.transformer.step(self._inputs(tokens_BN[:, None], action_emb_BD[:, None])[:, 0], cache,
                                        keys_values_only)
        return (None if h is None else self.head(h)), k, v

    def empty_cache(self, batch: int, device: torch.device | str = "cpu") -> TemporalCache:
        return self.transformer.empty_cache(batch, self.cfg.tokens_per_frame, device, self.pos.dtype)
