"""The rollout backend on ONNX Runtime: `WorldModel(OnnxBackend(export_dir))`.

The four exported graphs (encoder, dynamics step, dynamics commit, decoder step) are the model
calls of a cached rollout; the MaskGIT schedule, sampling and state stay in `WorldModel`'s one loop.
Providers are tried in the order TensorRT -> CUDA -> CPU among those available, and
`provider` says which one the session really runs on: onnxruntime-gpu silently falls back to
CPU when the CUDA/cuDNN libraries are missing, which is detected and warned about.

Every graph runs through IO binding on torch tensors: inputs and outputs are bound by pointer,
so with the CUDA/TensorRT provider and a CUDA build of torch the tokens, logits and both
temporal caches stay on the GPU between steps (only sampled tokens' logits feed host-side
sampling through torch ops on the same device); on CPU the binding avoids copies too.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genie_robotics.core.config import GenieConfig
from genie_robotics.core.errors import GenieError
from genie_robotics.export.onnx_export import FORMAT, METADATA_FILE, graph_cache
from genie_robotics.nn.st_transformer import TemporalCache
from genie_robotics.sim.rollout_backend import RolloutBackend, cpu_world_chunk

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
ORT_TO_TORCH = {"tensor(float)": torch.float32, "tensor(int64)": torch.int64, "tensor(bool)": torch.bool}
TORCH_TO_NUMPY = {torch.float32: np.dtype(np.float32), torch.int64: np.dtype(np.int64), torch.bool: np.dtype(np.bool_),
                  torch.uint8: np.dtype(np.uint8)}  # every dtype a graph input or output has


def choose_providers(requested: list[str] | None = None) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    wanted = requested or [p for p in PREFERRED_PROVIDERS if p in available]
    missing = [p for p in wanted if p not in available]
    if missing:
        raise GenieError(f"ONNX Runtime providers not available: {', '.join(missing)} (available: {', '.join(available)})")
    return wanted


# Session settings, chosen by measurement on 2 CPU cores (bench/onnx_session.py): all graph
# optimisations; one intra-op thread per core; worker threads that spin while a graph runs (a
# sleeping worker takes longer to wake than most of the ~260 small kernels take to run) and stop
# spinning as soon as it returns, so they leave the cores to the sampling code between graphs.
SESSION_SETTINGS = {"optimization": "all", "threads": 0, "spinning": True}


def session_options(optimization: str = "all", threads: int = 0, spinning: bool = True, ort_defaults: bool = False):
    """onnxruntime.SessionOptions for `optimization` (disable/basic/extended/all), `threads`
    intra-op threads (0: one per core) and worker threads that spin during a run or always sleep;
    `ort_defaults`: ONNX Runtime's own defaults instead (the benchmarks' reference row)."""
    import onnxruntime as ort

    if ort_defaults:
        return ort.SessionOptions()

    levels = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    options = ort.SessionOptions()
    options.graph_optimization_level = levels[optimization]
    options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.add_session_config_entry("session.force_spinning_stop", "1")  # no spinning between runs
    # No arena and no memory pattern: both keep, per batch size, buffers sized for a whole step's
    # largest activations, which at 64 worlds cost more memory than the worlds' caches
    # (bench/node_memory.py).
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    return options


class OnnxBackend(RolloutBackend):
    def __init__(self, export_dir: str | Path, providers: list[str] | None = None, settings: dict | None = None) -> None:
        """`settings`: keyword arguments of `session_options` (default SESSION_SETTINGS)."""
        import onnxruntime as ort

        export_dir = Path(export_dir)
        meta_path = export_dir / METADATA_FILE
        if not meta_path.is_file():
            raise GenieError(f"{export_dir} is not an ONNX export (no {METADATA_FILE}); run `genie-robotics export` first")
        self.meta = json.loads(meta_path.read_text())
        if self.meta.get("format") != FORMAT:
            raise GenieError(f"{export_dir} is a {self.meta.get('format', 'unversioned')!r} export and this version reads "
                             f"{FORMAT!r}; export the checkpoint again (`genie-robotics export`)")
        self.cfg = GenieConfig.load(export_dir / "config.yaml")
        wanted = choose_providers(providers)
        self.sessions = {
            name: ort.InferenceSession(str(export_dir / info["file"]), session_options(**(settings or SESSION_SETTINGS)),
                                       providers=wanted)
            for name, info in self.meta["graphs"].items()
        }
        self.provider = self.sessions["dynamics_step"].get_providers()[0]
        self.name = f"onnx ({self.provider})"
        if self.provider != wanted[0]:
            warnings.warn(f"ONNX Runtime asked for {wanted[0]} but runs on {self.provider} "
                          "(GPU libraries missing?)", RuntimeWarning, stacklevel=2)
        on_gpu = self.provider in GPU_PROVIDERS and torch.cuda.is_available()
        self.device = torch.device("cuda", torch.cuda.current_device()) if on_gpu else torch.device("cpu")
        # On CPU without arena or memory pattern nothing is planned per batch size; a GPU
        # provider's arena and kernel choices are.
        options = settings or SESSION_SETTINGS
        self.warms_per_batch = self.provider != "CPUExecutionProvider" or bool(options.get("ort_defaults"))
        # On CPU the graphs' intra-op pool has the cores; torch (sampling, cache appends) runs on
        # one thread beside it, or its own spin-waiting workers slow both down (bench/onnx_session.py).
        self.host_threads = 1 if self.provider == "CPUExecutionProvider" else None
        self.world_chunk = cpu_world_chunk(self.cfg) if self.provider == "CPUExecutionProvider" else None
        self.outputs = {name: [(o.name, ORT_TO_TORCH[o.type]) for o in sess.get_outputs()]
                        for name, sess in self.sessions.items()}
        # The inputs each graph reads, among those its metadata lists in call order: the commit
        # graph has no use for the last layer's cache, and the exporter drops unused inputs.
        self._reads = {}
        for name, sess in self.sessions.items():
            present = {i.name for i in sess.get_inputs()}
            self._reads[name] = [n in present for n in self.meta["graphs"][name]["inputs"]]
        self._scratch: dict[tuple[str, int], list[torch.Tensor]] = {}  # reused outputs, see `_run`
        # One IO binding per graph, with what each of its names is bound to (see `_bind_once`).
        self._bindings: dict[str, tuple[Any, dict[str, Any]]] = {name: (sess.io_binding(), {}) for name, sess in self.sessions.items()}

    def check_batch(self, batch: int) -> None:
        if batch != 1 and not self.meta.get("dynamic_batch"):
            raise GenieError(f"the ONNX graphs are exported for batch 1; got a batch of {batch} "
                             "(export with --dynamic-batch for batched rollouts)")

    def _bind(self, tensor: torch.Tensor):
        """(device type, device id, numpy dtype, shape, pointer) of a contiguous tensor for IO binding."""
        return tensor.device.type, tensor.device.index or 0, TORCH_TO_NUMPY[tensor.dtype], list(tensor.shape), tensor.data_ptr()

    def _output_shapes(self, name: str, B: int) -> list[list[int]]:
        """Concrete output shapes for a batch of B (dynamic-batch graphs leave some dims symbolic)."""
        cfg, N = self.cfg, self.cfg.tokens_per_frame

        def new_kv(cache_shape):
            L, _, H, _, D = cache_shape
            return [[L, B * N, H, D]] * 2

        return {"encoder": [[B, N]],
                "dynamics_step": [[B, N, self.meta["vocab"]]] * 2 + new_kv(self.meta["dynamics_cache_shape"]),
                "dynamics_commit": new_kv(self.meta["dynamics_cache_shape"]),
                "decoder_step": [[B, cfg.height, cfg.width, 3], *new_kv(self.meta["decoder_cache_shape"])]}[name]

    def _bind_once(self, binding, bound: dict, io_name: str, tensor: torch.Tensor, bind) -> None:
        """Bind `tensor` to `io_name` unless the same memory and shape are bound already: the
        caches stay put through a frame's MaskGIT iterations, and rebinding all 11 inputs and 3
        outputs on every run was a measurable share of a step (bench/README.md)."""
        where = self._bind(tensor)
        if bound.get(io_name) != where:
            bind(io_name, *where)
            bound[io_name] = where

    def _new_outputs(self, name: str, B: int) -> list[torch.Tensor]:
        return [torch.empty(shape, dtype=dtype, device=self.device)
                for shape, (_, dtype) in zip(self._output_shapes(name, B), self.outputs[name])]

    def _run(self, name: str, *inputs: torch.Tensor, scratch: bool = False) -> list[torch.Tensor]:
        """Run one graph with inputs and outputs bound in place on `self.device`. `scratch`: write
        the outputs into buffers that the next scratch run of this graph overwrites (for outputs
        read at once: fresh ones are allocated and first touched on every MaskGIT iteration otherwise)."""
        session = self.sessions[name]
        binding, bound = self._bindings[name]
        on_device = [x.to(self.device).contiguous() for x in inputs]  # kept alive until the run ends
        for input_name, x, read in zip(self.meta["graphs"][name]["inputs"], on_device, self._reads[name]):
            if read:
                self._bind_once(binding, bound, input_name, x, binding.bind_input)
        B = inputs[0].shape[0]  # every graph's first input (frame or tokens) is batch-major
        if not scratch:
            outputs = self._new_outputs(name, B)
        elif (name, B) in self._scratch:
            outputs = self._scratch[name, B]
        else:
            outputs = self._scratch[name, B] = self._new_outputs(name, B)
        for (output_name, _), y in zip(self.outputs[name], outputs):
            self._bind_once(binding, bound, output_name, y, binding.bind_output)
        if self.device.type == "cuda":
            torch.cuda.current_stream(self.device).synchronize()  # inputs written by torch are ready
        session.run_with_iobinding(binding)
        return outputs

    def encode(self, frames_BHWC: torch.Tensor) -> torch.Tensor:
        return self._run("encoder", frames_BHWC)[0]

    def empty_caches(self, batch: int) -> tuple[TemporalCache, TemporalCache]:
        def empty(shape):
            L, N, H, C, D = shape
            return TemporalCache.empty((L, batch * N, H, C, D), self.device)

        return empty(self.meta["dynamics_cache_shape"]), empty(self.meta["decoder_cache_shape"])

    def _action(self, tokens_BN, actions_B) -> torch.Tensor:
        """The graphs' action input: num_actions ("no action") for the prompt frame."""
        return torch.full((tokens_BN.shape[0],), self.cfg.num_actions) if actions_B is None else actions_B.long()

    def _dynamics(self, tokens_BN, actions_B, cache, temperature: float, scratch: bool = False):
        """(logits, probs at `temperature`, keys, values) of one dynamics graph run."""
        return self._run("dynamics_step", tokens_BN, self._action(tokens_BN, actions_B), self.temperature_tensor(temperature),
                         *graph_cache(cache), scratch=scratch)

    def dynamics_step(self, tokens_BN, actions_B, cache, keys_values_only: bool = False):
        if keys_values_only:  # the commit graph (~15-25 % less work than a MaskGIT iteration)
            keys, values = self._run("dynamics_commit", tokens_BN, self._action(tokens_BN, actions_B),
                                     *graph_cache(cache), scratch=True)
            return None, keys, values
        logits, _, k, v = self._dynamics(tokens_BN, actions_B, cache, 1.0)
        return logits, k, v

    def probabilities(self, tokens_BN, actions_B, cache, temperature):
        """Computed in the graph, into a buffer the next MaskGIT iteration overwrites (the sampler
        reads them at once)."""
        return self._dynamics(tokens_BN, actions_B, cache, temperature, scratch=True)[1]

    def decode(self, tokens_BN, cache):
        frame, k, v = self._run("decoder_step", tokens_BN, *graph_cache(cache))
        return frame, cache.append(k, v)

