"""Export a Genie checkpoint as four ONNX graphs plus a metadata JSON.

  encoder.onnx          frame uint8 [1, H, W, 3] -> tokens int64 [1, N]
  dynamics_step.onnx    tokens [1, N], action int64 [1] (num_actions = "no action", the prompt),
                        sampling temperature float [] (> 0), the temporal cache (per layer:
                        keys rotated by their distance to this frame, and values [N, heads, C,
                        head_dim]; valid bool [C])
                        -> logits [1, N, V], probs [1, N, V] = softmax(logits / temperature),
                        this frame's keys/values [L, N, heads, head_dim]
  dynamics_commit.onnx  the same without the temperature -> this frame's keys/values only: the
                        pass that appends a finished frame to the cache, without what its keys
                        and values do not depend on (the last layer's temporal attention and
                        feed-forward, the logits head, the softmax)
  decoder_step.onnx     tokens [1, N] + the decoder's cache -> frame float [1, H, W, 3] in [-1, 1],
                        this frame's keys/values

The cache is an explicit input/output with a fixed shape, so one MaskGIT iteration costs one
frame's forward pass; appending to it and the MaskGIT schedule stay in host code. The softmax
at the sampling temperature runs in the graph: on a CPU, host tensor ops right after a graph
run find their caches cold and run 2-3x slower than ONNX Runtime's kernel inside the run.
Graphs are static batch 1 (what the ROS node runs); `dynamic_batch=True` makes the batch a
symbolic dimension ("batch", and "batch_tokens" = batch x N in the cache) for batched rollouts.
"""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import torch
from torch import nn

from genie_robotics.commands import COMMAND_MAP_FILE, codebook_digest, load_command_map
from genie_robotics.core.checkpoint_files import CONFIG_FILE
from genie_robotics.core.errors import GenieError
from genie_robotics.data.render_settings import RENDER_SETTINGS_FILE
from genie_robotics.models.checkpoint import load_checkpoint
from genie_robotics.models.genie import Genie
from genie_robotics.models.maskgit import token_probabilities
from genie_robotics.nn.st_transformer import TemporalCache

OPSET = 17
METADATA_FILE = "genie_onnx.json"
# v2: the dynamics graph takes the sampling temperature and also returns probs, a commit graph
# joins it, and the cache holds keys rotated by distance in any slot order (v1 exports are
# older than all three: export again).
FORMAT = "genie_robotics onnx v2"
GRAPHS = ("encoder", "dynamics_step", "dynamics_commit", "decoder_step")
CACHE_OUT = ["new_keys", "new_values"]


def cache_inputs(layers: int) -> list[str]:
    """Graph input names of a cache: one keys and one values tensor per layer (ONNX has no views,
    so slicing a stacked [L, ...] input would copy the whole cache at every MaskGIT iteration),
    then the valid mask."""
    return [*(f"cache_keys_{i}" for i in range(layers)), *(f"cache_values_{i}" for i in range(layers)), "cache_valid"]


def _readable(cache_tensors: tuple[torch.Tensor, ...]) -> TemporalCache:
    """The cache a graph reads, from its per-layer inputs (keys..., values..., valid)."""
    layers = (len(cache_tensors) - 1) // 2
    return TemporalCache.readable(cache_tensors[:layers], cache_tensors[layers:-1], cache_tensors[-1])


class _GenieGraph(nn.Module):
    """One exported graph: a forward over the Genie model's parts."""

    def __init__(self, genie: Genie) -> None:
        super().__init__()
        self.genie = genie

    def action_embedding(self, action_B: torch.Tensor) -> torch.Tensor:
        """The action's embedding, or the "no action" vector for action == num_actions (the prompt)."""
        g = self.genie
        none_B = action_B >= g.cfg.num_actions
        codes_BD = g.lam.action_codes(torch.where(none_B, torch.zeros_like(action_B), action_B))
        return torch.where(none_B[:, None], g.dynamics.no_action.expand(action_B.shape[0], -1), g.dynamics.action_in(codes_BD))


class EncoderGraph(_GenieGraph):
    def forward(self, frame_BHWC: torch.Tensor) -> torch.Tensor:
        return self.genie.tokenizer.quantize(frame_BHWC[:, None]).indices[:, 0]


class DynamicsStepGraph(_GenieGraph):
    def forward(self, tokens_BN, action_B, temperature, *cache_tensors):
        logits_BNV, keys, values = self.genie.dynamics.step_embedded(tokens_BN, self.action_embedding(action_B),
                                                                     _readable(cache_tensors))
        return logits_BNV, token_probabilities(logits_BNV, temperature), keys, values


class DynamicsCommitGraph(_GenieGraph):
    """The keys/values of a finished frame only (`keys_values_only`, as PyTorch commits)."""

    def forward(self, tokens_BN, action_B, *cache_tensors):
        _, keys, values = self.genie.dynamics.step_embedded(tokens_BN, self.action_embedding(action_B),
                                                           _readable(cache_tensors), keys_values_only=True)
        return keys, values


class DecoderStepGraph(_GenieGraph):
    def forward(self, tokens_BN, *cache_tensors):
        return self.genie.tokenizer.decode_frame(tokens_BN, _readable(cache_tensors))


# Which dimension of each named input/output is the batch ("batch") or batch x tokens ("batch_tokens").
BATCH_AXES = {"frame": {0: "batch"}, "tokens": {0: "batch"}, "action": {0: "batch"}, "logits": {0: "batch"},
              "probs": {0: "batch"}, "new_keys": {1: "batch_tokens"}, "new_values": {1: "batch_tokens"}}
CACHE_BATCH_AXES = {0: "batch_tokens"}  # every per-layer cache input [X, heads, C, head_dim]


def export_onnx(checkpoint: str | Path, out: str | Path, dynamic_batch: bool = False) -> Path:
    """Write the four graphs (GRAPHS), the model config and the metadata JSON to `out`."""
    genie = load_checkpoint(checkpoint).float().eval()
    cfg = genie.cfg
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GenieError(f"--out {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    N = cfg.tokens_per_frame
    B = 2 if dynamic_batch else 1  # trace with 2 so no batch-1 broadcast is baked into a dynamic graph
    tokens = torch.zeros(B, N, dtype=torch.long)
    dyn_cache = genie.dynamics.empty_cache(B)
    dec_cache = genie.tokenizer.empty_decoder_cache(B)
    frame = torch.zeros(B, cfg.height, cfg.width, 3, dtype=torch.uint8)
    no_action = torch.full((B,), cfg.num_actions)
    dyn_cache_in = cache_inputs(len(dyn_cache.values_LXHCD))
    jobs = {
        "encoder": (EncoderGraph(genie), (frame,), ["frame"], ["tokens"]),
        "dynamics_step": (DynamicsStepGraph(genie), (tokens, no_action, torch.tensor(1.0), *graph_cache(dyn_cache)),
                          ["tokens", "action", "temperature", *dyn_cache_in], ["logits", "probs", *CACHE_OUT]),
        "dynamics_commit": (DynamicsCommitGraph(genie), (tokens, no_action, *graph_cache(dyn_cache)),
                            ["tokens", "action", *dyn_cache_in], CACHE_OUT),
        "decoder_step": (DecoderStepGraph(genie), (tokens, *graph_cache(dec_cache)),
                         ["tokens", *cache_inputs(len(dec_cache.values_LXHCD))], ["frame", *CACHE_OUT]),
    }
    assert tuple(jobs) == GRAPHS
    for name, (module, args, inputs, outputs) in jobs.items():
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer warns about Python-level shape arithmetic; every shape here is static.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            axes = {n: BATCH_AXES.get(n, CACHE_BATCH_AXES) for n in (*inputs, *outputs)
                    if n in BATCH_AXES or n.startswith("cache_") and n != "cache_valid"} if dynamic_batch else None
            torch.onnx.export(module, args, str(out / f"{name}.onnx"), input_names=inputs, output_names=outputs,
                              opset_version=OPSET, dynamo=False, dynamic_axes=axes)
    cfg.save(out / CONFIG_FILE)
    render_args = Path(checkpoint) / RENDER_SETTINGS_FILE  # how the training video was made (camera, scene)
    if render_args.is_file():
        shutil.copyfile(render_args, out / RENDER_SETTINGS_FILE)
    command_map = Path(checkpoint) / COMMAND_MAP_FILE  # robot commands -> latent actions, checked against the LAM
    if command_map.is_file():
        load_command_map(checkpoint, codebook_AD=genie.lam.quantizer.codebook)
        shutil.copyfile(command_map, out / COMMAND_MAP_FILE)
    meta = {
        "format": FORMAT,
        "height": cfg.height, "width": cfg.width, "tokens_per_frame": N, "vocab": cfg.tokenizer.quantizer.num_codes,
        "mask_id": cfg.tokenizer.quantizer.num_codes, "num_actions": cfg.num_actions, "no_action": cfg.num_actions,
        "context_frames": cfg.frames, "fps": cfg.fps,
        "dynamic_batch": dynamic_batch,  # cache shapes below are per batch element (X = N)
        "dynamics_cache_shape": _per_element(dyn_cache.shape, B),
        "decoder_cache_shape": _per_element(dec_cache.shape, B),
        "maskgit": {"steps": cfg.dynamics.maskgit_steps, "temperature": cfg.dynamics.temperature,
                    "schedule": cfg.dynamics.schedule, "unmasking": cfg.dynamics.unmasking},
        "graphs": {name: {"file": f"{name}.onnx", "inputs": job[2], "outputs": job[3]} for name, job in jobs.items()},
        "opset": OPSET,
        "lam_digest": codebook_digest(genie.lam.quantizer.codebook),  # which command maps fit these codes
    }
    (out / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return out


def graph_cache(cache: TemporalCache) -> tuple[torch.Tensor, ...]:
    """A cache as a graph's inputs: per-layer views of what attention reads, and the valid mask."""
    return (*cache.rotated_keys_LXHCD.unbind(0), *cache.values_LXHCD.unbind(0), cache.valid_C)


def _per_element(shape_LXHCD, batch: int) -> list[int]:
    L, X, H, C, D = shape_LXHCD
    return [L, X // batch, H, C, D]
