"""Every transition of some robot video labelled with the frozen LAM's latent action.

Shared by the probe (usage, relation to true actions), `generate --action-map` (latent -> real
action) and the policy pre-training example (labels for expert video). Episodes are cut into
windows of at most `window` frames that overlap by one frame, so each transition t -> t+1 is
labelled exactly once and episodes shorter than the model's context still count; windows of
equal length go through the LAM together.
"""
from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

LAM_BATCH = 16  # windows per LAM forward pass


@dataclass
class Transitions:
    """One entry per transition t -> t+1 of the episodes read (in no particular order)."""

    codes_N: np.ndarray  # int64 latent action
    latents_ND: np.ndarray  # float32 continuous latent before quantisation
    episodes_N: np.ndarray  # int64 index of the episode (in reading order)
    times_N: np.ndarray  # int64 t
    actions_NA: np.ndarray | None  # float32 true action applied after frame t, or None


def windows(length: int, window: int) -> list[tuple[int, int]]:
    """[start, stop) frame windows of at most `window` frames, overlapping by one frame, that
    cover each transition of a `length`-frame episode exactly once (the last may be shorter)."""
    return [(s, min(s + window, length)) for s in range(0, length - 1, window - 1)]


class LatentLabeller:
    """Feeds episodes' windows through the LAM in batches and gathers per-transition results."""

    def __init__(self, lam, window: int) -> None:
        self.lam, self.window = lam, window
        self.device = next(lam.parameters()).device
        self.pending: dict[int, list[tuple[np.ndarray, int, int]]] = {}
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add_episode(self, frames_THWC: np.ndarray, episode: int) -> None:
        for start, stop in windows(len(frames_THWC), self.window):
            queue = self.pending.setdefault(stop - start, [])
            queue.append((frames_THWC[start:stop], episode, start))
            if len(queue) == LAM_BATCH:
                self._run(queue)
                queue.clear()

    @torch.no_grad()
    def _run(self, queue) -> None:
        clips = torch.from_numpy(np.stack([q[0] for q in queue])).to(self.device)
        inferred = self.lam.infer(clips)
        codes_BT = inferred.quantized.indices.cpu().numpy()
        latents_BTD = inferred.continuous_BTD.float().cpu().numpy()
        steps = codes_BT.shape[1]
        for b, (_, episode, start) in enumerate(queue):
            self.parts.append((codes_BT[b], latents_BTD[b], np.full(steps, episode), start + np.arange(steps)))

    def finish(self) -> list[np.ndarray]:
        """[codes_N, latents_ND, episodes_N, times_N], or [] when no episode had a transition."""
        for queue in self.pending.values():
            if queue:
                self._run(queue)
        self.pending = {}
        return [np.concatenate(column) for column in zip(*self.parts)] if self.parts else []


def label_dataset(genie, src, max_episodes: int | None, window: int, progress: bool = True,
                  each_episode: Callable[[str, np.ndarray], None] | None = None) -> tuple[Transitions | None, list[str]]:
    """(Transitions, episode ids) of the first `max_episodes` episodes (None: all) of an RLDSSource.

    Whole episodes are read one after another; `each_episode(id, frames uint8 [T, H, W, 3])` sees
    every one. True actions are attached when the dataset has them. None when nothing was labelled.
    """
    from genie_robotics.data.rlds_reader import ClipSpec, iterate_clips

    cfg = genie.cfg
    n = src.episodes if max_episodes is None else min(max_episodes, src.episodes)
    src = dataclasses.replace(src, split=f"{src.split}[:{n}]", episodes=n)
    with_actions = src.action_dim > 0
    spec = ClipSpec(frames=1, stride=1, height=cfg.height, width=cfg.width, shuffle_buffer=0, part="all",
                    with_actions=with_actions, repeat=False, cycle_length=1)
    labeller = LatentLabeller(genie.lam, window)
    names, actions = [], {}
    steps = iterate_clips([src], spec)
    for name, group in tqdm(itertools.groupby(steps, key=lambda c: c["episode"]), total=n, desc="LAM over episodes",
                            unit="episode", disable=not progress):
        clips = list(group)
        frames_THWC = np.concatenate([c["frames"] for c in clips])
        if with_actions:
            actions[len(names)] = np.concatenate([c["actions"] for c in clips]).astype(np.float32)
        labeller.add_episode(frames_THWC, len(names))
        names.append(name)
        if each_episode is not None:
            each_episode(name, frames_THWC)
    columns = labeller.finish()
    if not columns:
        return None, names
    codes, latents, episodes, times = columns
    true_actions = np.stack([actions[e][t] for e, t in zip(episodes, times)]) if with_actions else None
    return Transitions(codes.astype(np.int64), latents, episodes.astype(np.int64), times.astype(np.int64),
                       true_actions), names

