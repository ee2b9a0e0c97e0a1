"""Robot commands in: a map from end-effector commands to the world model's latent actions.

The world model is driven by latent actions it learned from video alone; a robot stack sends
end-effector motion (RT-1 / Bridge record `world_vector`, the gripper's displacement per step;
servo stacks send velocities). The bridge is fitted from a few labelled episodes (Genie §3.3):
the frozen LAM labels every transition with its latent action, and a multinomial logistic
regression learns which latent action a command leads to. Only this map sees true actions.

A command is the gripper's displacement over one frame of the training video, in metres, in
the dataset's `world_vector` axes (x right, z up in the rendered camera's image plane), plus the
gripper's closedness action when the dataset records one. Features are the command divided by a
per-axis scale, plus its length: the length tells "hold still" from "move", the direction which
way. The map is stored as JSON beside the weights (`command_map.json`): numbers only, checked
field by field when read, with a digest of its contents and of the LAM codebook it was fitted
for, so a corrupt, edited or mismatched file is refused in one line and nothing in it runs.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genie_robotics.core.errors import GenieError

COMMAND_MAP_FILE = "command_map.json"
FORMAT = "genie-command-map"
VERSION = 1
COMMAND_KEY = "world_vector"  # the action field a command is (RT-1's end-effector displacement)
GRIPPER_KEY = "gripper_closedness_action"
L2 = 1e-3  # ridge on the logistic weights: a few labelled episodes must not give infinite weights


def codebook_digest(codebook_AD: torch.Tensor) -> str:
    """A digest of the LAM's codebook: a map only holds for the codes it was fitted on."""
    data = codebook_AD.detach().float().cpu().contiguous().numpy().astype("<f4").tobytes()
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class CommandMap:
    """Commands [..., F] -> latent actions [...]; F = 3 (`world_vector`) or 4 (+ gripper)."""

    scale_F: np.ndarray  # per-axis divisor of a command (the labelled commands' spread)
    weights_AK: np.ndarray  # logistic weights over the features [command / scale, |command / scale|]
    bias_A: np.ndarray
    code_commands_AF: np.ndarray  # mean labelled command of each latent action (its real-action meaning)
    code_counts_A: np.ndarray  # labelled transitions behind each of those means
    fps: float  # frame rate of the labelled video: a command is a displacement over 1 / fps seconds
    lam_digest: str
    fitted_on: dict  # where the labels came from: dataset, episodes, transitions, held-out agreement

    @property
    def num_actions(self) -> int:
        return len(self.bias_A)

    @property
    def command_dim(self) -> int:
        return len(self.scale_F)

    def _features(self, commands_NF: np.ndarray) -> np.ndarray:
        scaled = commands_NF / self.scale_F
        return np.concatenate((scaled, np.linalg.norm(scaled[:, :3], axis=1, keepdims=True)), axis=1)

    def check_commands(self, commands) -> np.ndarray:
        """float64 [..., F]: commands of the map's width; 3-wide ones get gripper 0 when the map has one."""
        arr = np.asarray(commands, dtype=np.float64)
        if arr.ndim == 0 or arr.shape[-1] not in (3, self.command_dim):
            raise GenieError(f"a command is a world_vector of 3 numbers (metres per frame"
                             f"{', plus the gripper' if self.command_dim == 4 else ''}); got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise GenieError("a command holds NaN or infinite values")
        if arr.shape[-1] < self.command_dim:
            arr = np.concatenate((arr, np.zeros((*arr.shape[:-1], self.command_dim - 3))), axis=-1)
        return arr

    def probabilities(self, commands) -> np.ndarray:
        """[..., A]: the map's probability of each latent action for each command."""
        arr = self.check_commands(commands)
        flat = arr.reshape(-1, self.command_dim)
        logits = self._features(flat) @ self.weights_AK.T + self.bias_A
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return (p / p.sum(axis=1, keepdims=True)).reshape(*arr.shape[:-1], self.num_actions)

    def latent_actions(self, commands) -> np.ndarray:
        """int64 [...]: the most likely latent action for each command [..., 3] (or [..., 4])."""
        return self.probabilities(commands).argmax(axis=-1).astype(np.int64)

    def __call__(self, commands) -> np.ndarray:
        return self.latent_actions(commands)

    # --- storage --------------------------------------------------------------------------
    def _payload(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "num_actions": self.num_actions,
                "command_dim": self.command_dim, "fps": self.fps, "lam_digest": self.lam_digest,
                "scale": self.scale_F.tolist(), "weights": self.weights_AK.tolist(), "bias": self.bias_A.tolist(),
                "code_commands": self.code_commands_AF.tolist(), "code_counts": self.code_counts_A.tolist(),
                "fitted_on": self.fitted_on}

    def to_json(self) -> str:
        payload = self._payload()
        payload["sha256"] = _digest(payload)
        return json.dumps(payload, indent=1) + "\n"

    def save(self, directory: str | Path) -> Path:
        from genie_robotics.core.atomic_files import atomic_write_text

        path = Path(directory) / COMMAND_MAP_FILE
        atomic_write_text(path, self.to_json())
        return path

    @classmethod
    def from_json(cls, text: str, source: str = COMMAND_MAP_FILE) -> CommandMap:
        """Parse and check a stored map; any problem is one GenieError naming `source`."""
        def bad(why: str) -> GenieError:
            return GenieError(f"command map {source} is corrupt or was edited: {why}")

        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise bad(f"not JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise bad(f"not a {FORMAT} file")
        if data.get("version") != VERSION:
            raise bad(f"version {data.get('version')!r}, this genie-robotics reads version {VERSION}")
        stored = data.pop("sha256", None)
        if stored != _digest(data):
            raise bad("its sha256 does not match its contents")
        try:
            A, F = int(data["num_actions"]), int(data["command_dim"])
            arrays = {name: np.asarray(data[name], dtype=np.float64)
                      for name in ("scale", "weights", "bias", "code_commands", "code_counts")}
            fps, digest, fitted_on = float(data["fps"]), str(data["lam_digest"]), dict(data["fitted_on"])
        except (KeyError, TypeError, ValueError) as exc:
            raise bad(f"field {exc}") from None
        shapes = {"scale": (F,), "weights": (A, F + 1), "bias": (A,), "code_commands": (A, F), "code_counts": (A,)}
        for name, shape in shapes.items():
            if arrays[name].shape != shape or not np.isfinite(arrays[name]).all():
                raise bad(f"{name} must be {shape} finite numbers")
        if F not in (3, 4) or A < 2 or not (arrays["scale"] > 0).all() or not (math.isfinite(fps) and fps > 0):
            raise bad("command_dim must be 3 or 4, num_actions >= 2, scale and fps > 0")
        return cls(arrays["scale"], arrays["weights"], arrays["bias"], arrays["code_commands"],
                   arrays["code_counts"].astype(np.int64), fps, digest, fitted_on)


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def load_command_map(directory: str | Path, codebook_AD: torch.Tensor | None = None,
                     lam_digest: str | None = None) -> CommandMap:
    """The command map stored in a checkpoint (or ONNX export) directory.

    With the LAM's codebook (or its digest), a map fitted for other codes is refused. When neither
    is given and `directory` is a checkpoint, its own LAM codebook is read to check the map.
    """
    path = Path(directory) / COMMAND_MAP_FILE
    if not path.is_file():
        raise GenieError(f"{directory} has no {COMMAND_MAP_FILE}: fit one with `genie-robotics fit-command-map "
                         f"{directory} --data LABELLED_RLDS`")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise GenieError(f"command map {path} cannot be read: {exc}") from None
    command_map = CommandMap.from_json(text, str(path))
    if codebook_AD is not None:
        lam_digest = codebook_digest(codebook_AD)
    elif lam_digest is None:
        lam_digest = _checkpoint_lam_digest(Path(directory))
    if lam_digest is not None and lam_digest != command_map.lam_digest:
        raise GenieError(f"command map {path} was fitted for another latent action model (its LAM codebook digest "
                         f"differs): fit it again with `genie-robotics fit-command-map`")
    return command_map


def _checkpoint_lam_digest(directory: Path) -> str | None:
    """The LAM codebook digest of a checkpoint directory, or of an ONNX export's metadata; None if neither."""
    from genie_robotics.core.checkpoint_files import WEIGHTS_FILE

    if (directory / WEIGHTS_FILE).is_file():
        from safetensors import safe_open

        with safe_open(str(directory / WEIGHTS_FILE), "pt") as weights:
            return codebook_digest(weights.get_tensor(LAM_CODEBOOK))
    meta = directory / "genie_onnx.json"
    if meta.is_file():
        return json.loads(meta.read_text()).get("lam_digest")
    return None


LAM_CODEBOOK = "lam.quantizer.codebook"  # the state-dict key of the LAM's codes


def fit_command_map(commands_NF: np.ndarray, codes_N: np.ndarray, num_actions: int, fps: float, lam_digest: str,
                    fitted_on: dict | None = None, iterations: int = 200) -> CommandMap:
    """Multinomial logistic regression from commands to the LAM's codes of the same transitions."""
    commands_NF = np.asarray(commands_NF, dtype=np.float64)
    codes_N = np.asarray(codes_N, dtype=np.int64)
    if commands_NF.ndim != 2 or commands_NF.shape[1] not in (3, 4) or len(commands_NF) != len(codes_N):
        raise GenieError(f"need commands [N, 3 or 4] and N codes, got {commands_NF.shape} and {codes_N.shape}")
    if len(codes_N) < num_actions:
        raise GenieError(f"{len(codes_N)} labelled transitions are too few to fit {num_actions} latent actions")
    spread = commands_NF.std(axis=0)
    scale = np.where(spread > 1e-9, spread, 1.0)  # a constant column (a gripper never used) stays as it is
    probe = CommandMap(scale, np.zeros((num_actions, commands_NF.shape[1] + 1)), np.zeros(num_actions),
                       np.zeros((num_actions, commands_NF.shape[1])), np.zeros(num_actions, np.int64), fps, lam_digest, {})
    x = torch.from_numpy(probe._features(commands_NF))
    y = torch.from_numpy(codes_N)
    linear = torch.nn.Linear(x.shape[1], num_actions, dtype=torch.float64)
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    opt = torch.optim.LBFGS(linear.parameters(), lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(x), y) + L2 * linear.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    code_commands = np.stack([commands_NF[codes_N == a].mean(axis=0) if (codes_N == a).any() else np.zeros(commands_NF.shape[1])
                              for a in range(num_actions)])
    return CommandMap(scale, linear.weight.detach().numpy().copy(), linear.bias.detach().numpy().copy(), code_commands,
                      np.bincount(codes_N, minlength=num_actions), float(fps), lam_digest, dict(fitted_on or {}))
