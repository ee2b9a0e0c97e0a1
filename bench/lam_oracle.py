"""Can the latent action model use actions at all, and does it learn them? Prints JSON.

Two short trainings of the LAM on rendered teleop episodes (`data render --policy teleop`,
whose steps carry the true `action/heading`), scored on held-out episodes:
- oracle: the LAM decoder gets the TRUE heading (a learned embedding) instead of the latent.
  If it cannot beat holding frame t still, on the moving pixels and overall, the decoder
  cannot use an action and nothing downstream will;
- lam: the full LAM (encoder -> VQ -> decoder), as `train --stage lam` trains it; reported:
  NMI(codes, heading), code usage, and the decoder's PSNR with the inferred codes vs the same
  codes shuffled across clips (a decoder that ignores its codes scores the same on both).
PSNRs are of frame t+1 predicted from frame t; "moving" = pixels that change from t to t+1.
Usage: python bench/lam_oracle.py --train DIR --heldout DIR [--seconds 300] [--preset tiny]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from genie_robotics.analysis.action_statistics import code_usage, normalized_mutual_information
from genie_robotics.core.config import preset
from genie_robotics.data.rlds_reader import ClipSpec, RLDSClipDataset, open_rlds
from genie_robotics.models.latent_action import LatentActionModel, moving_mask, reconstruction_terms
from genie_robotics.models.video import to_unit
from genie_robotics.nn.metrics import masked_psnr, psnr
from genie_robotics.nn.optim import make_optimizer


def load_clips(path: str, frames: int, size: tuple[int, int], stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 clips [N, T, H, W, 3] and true headings [N, T] of every episode in `path`."""
    column = open_rlds(path).action_columns("heading")
    if column is None:
        raise SystemExit(f"{path} has no action/heading: render it with `data render --policy teleop`")
    spec = ClipSpec(frames=frames, height=size[0], width=size[1], shuffle_buffer=0, repeat=False, part="all",
                    stride=stride, with_actions=True)
    clips = list(RLDSClipDataset([path], spec))
    return (torch.stack([c["frames"] for c in clips]),
            torch.stack([c["actions"][:, column].reshape(frames) for c in clips]).round().long())


def scores(pred_BTHWC: torch.Tensor, clips_BTHWC: torch.Tensor) -> dict[str, float]:
    unit = to_unit(clips_BTHWC)
    moving = moving_mask(unit)[..., 0] > 0
    return {"psnr": round(float(psnr(pred_BTHWC, unit[:, 1:])), 2),
            "moving_psnr": round(masked_psnr(pred_BTHWC, unit[:, 1:], moving), 2)}


def train(lam: LatentActionModel, oracle: torch.nn.Embedding | None, clips, headings, seconds: float, batch: int,
          lr: float, seed: int) -> int:
    params = list(lam.parameters()) + (list(oracle.parameters()) if oracle is not None else [])
    opt = make_optimizer(params, lr)
    g = torch.Generator().manual_seed(seed)
    lam.train()
    start, step = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        idx = torch.randint(0, len(clips), (batch,), generator=g)
        if oracle is not None:
            pred = lam.decode_embedded(clips[idx, :-1], oracle(headings[idx, :-1]))
            loss = reconstruction_terms(pred, clips[idx], lam.cfg.lam.moving_weight)["loss"]
        else:
            loss = lam.loss(clips[idx])["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
    lam.eval()
    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", required=True, help="rendered teleop RLDS dataset to train on")
    p.add_argument("--heldout", required=True, help="rendered teleop RLDS dataset rendered with another seed")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--seconds", type=float, default=300, help="training time of each of the two runs")
    p.add_argument("--frames", type=int, default=4, help="clip length (transitions = frames - 1)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    cfg = preset(args.preset)
    size = (cfg.height, cfg.width)
    clips, headings = load_clips(args.train, args.frames, size, stride=2)
    held, held_headings = load_clips(args.heldout, args.frames, size, stride=args.frames)
    unit = to_unit(held)
    result = {"preset": args.preset, "train_clips": len(clips), "heldout_clips": len(held), "seconds_each": args.seconds,
              "still_frame": scores(unit[:, :-1], held)}

    torch.manual_seed(args.seed)
    lam, oracle = LatentActionModel(cfg), torch.nn.Embedding(cfg.num_actions, cfg.lam.decoder.dim)
    steps = train(lam, oracle, clips, headings, args.seconds, args.batch, args.lr, args.seed)
    shuffled = held_headings[torch.randperm(len(held), generator=torch.Generator().manual_seed(1))]
    with torch.no_grad():
        result["oracle"] = {"steps": steps, **scores(lam.decode_embedded(held[:, :-1], oracle(held_headings[:, :-1])), held),
                            "shuffled": scores(lam.decode_embedded(held[:, :-1], oracle(shuffled[:, :-1])), held)}

    torch.manual_seed(args.seed)
    lam = LatentActionModel(cfg)
    steps = train(lam, None, clips, headings, args.seconds, args.batch, args.lr, args.seed)
    with torch.no_grad():
        codes = lam.infer(held).quantized
        perm = torch.randperm(len(held), generator=torch.Generator().manual_seed(1))
        indices = codes.indices.numpy().ravel()
        result["lam"] = {"steps": steps, **scores(lam.reconstruct_next(held, codes.codes), held),
                         "shuffled": scores(lam.reconstruct_next(held, codes.codes[perm]), held),
                         "nmi_heading": round(normalized_mutual_information(indices, held_headings[:, :-1].numpy().ravel()), 3),
                         "code_usage": [round(u, 3) for u in code_usage(indices, cfg.num_actions)]}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
