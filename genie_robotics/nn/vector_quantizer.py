"""Vector quantiser with a straight-through estimator and a guard against codebook collapse.

Codes and inputs are L2-normalised (cosine distance), which keeps codes on the same scale as
the encoder output and helps usage. Per-code usage is tracked as an EMA buffer; during
training any code whose usage falls below `dead_fraction / num_codes` is restarted at one of
the current batch's encoder outputs that the codebook fits worst. Collapse (one or two codes in use) is the known
failure of public Genie re-implementations, especially for the 8-code latent action model.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genie_robotics.core.config import QuantizerConfig


@dataclass
class Quantized:
    codes: torch.Tensor  # [..., D] quantised vectors, straight-through gradient to the input
    indices: torch.Tensor  # [...] int64 code indices
    loss: torch.Tensor  # scalar codebook + commitment loss
    restarted: int  # how many dead codes were restarted by this call


def _data_parallel() -> bool:
    dist = torch.distributed
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class VectorQuantizer(nn.Module):
    usage: torch.Tensor  # buffer [K]: EMA share of inputs assigned to each code

    def __init__(self, cfg: QuantizerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.codebook = nn.Parameter(torch.randn(cfg.num_codes, cfg.code_dim))
        self.register_buffer("usage", torch.full((cfg.num_codes,), 1.0 / cfg.num_codes))

    def normalized_codebook(self) -> torch.Tensor:
        return F.normalize(self.codebook, dim=-1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Code vectors [..., D] for integer indices [...]."""
        return F.embedding(indices, self.normalized_codebook())

    def nearest(self, z_ND: torch.Tensor) -> torch.Tensor:
        """Index of the closest code (cosine) for each row."""
        return (F.normalize(z_ND, dim=-1) @ self.normalized_codebook().t()).argmax(-1)

    def forward(self, z: torch.Tensor) -> Quantized:
        shape = z.shape[:-1]
        z_ND = F.normalize(z.reshape(-1, z.shape[-1]).float(), dim=-1)
        codebook_KD = self.normalized_codebook().float()
        indices_N = (z_ND @ codebook_KD.t()).argmax(-1)
        # One-hot matmul instead of indexing: its backward sums each code's gradient in a fixed
        # order, so training (and a resumed run) is bit-reproducible on CPU.
        q_ND = F.one_hot(indices_N, self.cfg.num_codes).to(codebook_KD.dtype) @ codebook_KD
        loss = F.mse_loss(q_ND, z_ND.detach()) + self.cfg.commitment * F.mse_loss(z_ND, q_ND.detach())
        q_ST = z_ND + (q_ND - z_ND).detach()
        restarted = self._track_usage(indices_N, z_ND.detach(), q_ND.detach()) if self.training else 0
        return Quantized(q_ST.to(z.dtype).view(*shape, -1), indices_N.view(shape), loss, restarted)

    @torch.no_grad()
    def _track_usage(self, indices_N: torch.Tensor, z_ND: torch.Tensor, q_ND: torch.Tensor) -> int:
        """Update the usage EMA and restart dead codes; identical on every data-parallel rank."""
        counts = torch.bincount(indices_N, minlength=self.cfg.num_codes).float()
        distributed = _data_parallel()
        if distributed:
            torch.distributed.all_reduce(counts)  # every rank sees the global usage
        decay = self.cfg.usage_decay
        self.usage.mul_(decay).add_((1 - decay) * counts / counts.sum())
        dead = (self.usage < self.cfg.dead_fraction / self.cfg.num_codes).nonzero().flatten()
        if dead.numel() == 0:
            return 0
        # Restart at the inputs the current codes fit worst, so new codes cover what is missed.
        misfit_N = 1.0 - (z_ND * q_ND).sum(-1)
        picks = misfit_N.topk(min(dead.numel(), z_ND.shape[0])).indices
        dead = dead[: picks.numel()]
        restart_KD = z_ND[picks].contiguous()
        if distributed:
            torch.distributed.broadcast(restart_KD, src=0)  # all ranks restart to rank 0's picks
        self.codebook.data[dead] = restart_KD.to(self.codebook.dtype)
        self.usage[dead] = 1.0 / self.cfg.num_codes
        return int(dead.numel())

    @torch.no_grad()
    def refit(self, z_ND: torch.Tensor, restarts: int = 10, iters: int = 50, seed: int = 0) -> float:
        """Replace the codebook by spherical k-means of encoder outputs `z_ND`; returns the fit
        (mean cosine similarity of each input to its code).

        Online VQ training settles in one local optimum of where the code boundaries fall; the
        best of several k-means++ restarts on the trained encoder's outputs cuts them better
        (for the LAM: codes that follow the true motion directions more closely, see
        training/train.py --refit-codebook). Written here rather than taken from scikit-learn:
        its KMeans is Euclidean, codes are compared by cosine, and the model package does not
        depend on scikit-learn (which only the statistics of `eval`/`probe` need).
        """
        z_ND = F.normalize(z_ND.float(), dim=-1)
        n, k = z_ND.shape[0], self.cfg.num_codes
        if n < k:
            raise ValueError(f"refitting {k} codes needs at least {k} inputs, got {n}")
        generator = torch.Generator().manual_seed(seed)
        best_fit = -2.0
        best_KD: torch.Tensor | None = None
        for _ in range(restarts):
            centres = [z_ND[torch.randint(n, (1,), generator=generator)].squeeze(0)]
            for _ in range(k - 1):  # k-means++ on cosine distance
                far_N = (1 - z_ND @ torch.stack(centres).t()).min(1).values.clamp_min(0)
                centres.append(z_ND[torch.multinomial(far_N + 1e-12, 1, generator=generator)].squeeze(0))
            centres_KD = torch.stack(centres)
            for _ in range(iters):
                labels_N = (z_ND @ centres_KD.t()).argmax(1)
                sums_KD = torch.zeros_like(centres_KD).index_add_(0, labels_N, z_ND)
                empty = sums_KD.norm(dim=-1) == 0
                centres_KD = torch.where(empty[:, None], centres_KD, F.normalize(sums_KD, dim=-1))
            fit = float((z_ND @ centres_KD.t()).max(1).values.mean())
            if fit > best_fit:
                best_fit, best_KD = fit, centres_KD
        if best_KD is None:
            raise ValueError(f"restarts must be >= 1, got {restarts}")
        self.codebook.data.copy_(best_KD.to(self.codebook.dtype))
        counts = torch.bincount((z_ND @ best_KD.t()).argmax(1), minlength=k).float()
        self.usage.copy_(counts / counts.sum())
        return best_fit

    def usage_fractions(self) -> torch.Tensor:
        """EMA share of inputs assigned to each code (sums to 1)."""
        return self.usage / self.usage.sum()
