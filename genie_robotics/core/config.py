"""Dataclass configs for the Genie stack, named presets, and their YAML/JSON round trip.

Sizes are presets; the structure (patch sizes, codebooks, ST-transformer, 16-frame context at
10 FPS, MaskGIT defaults) follows Bruce et al. 2024 (arXiv 2402.15391).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genie_robotics.core.atomic_files import atomic_write_text
from genie_robotics.core.errors import GenieError


class ConfigFieldError(GenieError):
    """A config value of the wrong type or out of range; `field` is its dotted path."""

    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field, problem
        super().__init__(f"{field} {problem}")

    def inside(self, parent: str) -> ConfigFieldError:
        return ConfigFieldError(f"{parent}.{self.field}", self.problem)


def bounded(low: float, high: float, default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    """A dataclass field whose value must lie in [low, high] (checked by `check_fields`)."""
    return field(default=default, metadata={"range": (low, high)}, **kwargs)


def check_fields(obj: Any) -> None:
    """Types from the annotations (int, float, str; bool is neither) and `bounded` ranges.

    Runs before any size is used, so `height: 64.0`, `dim: "abc"` or `height: 4096000` is one
    line naming the field instead of a traceback or an out-of-memory error.
    """
    for f in dataclasses.fields(obj):
        value, kind = getattr(obj, f.name), f.type if isinstance(f.type, str) else f.type.__name__
        if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigFieldError(f.name, f"must be an integer, got {value!r}")
        if kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigFieldError(f.name, f"must be a number, got {value!r}")
        if kind == "str" and not isinstance(value, str):
            raise ConfigFieldError(f.name, f"must be a string, got {value!r}")
        low, high = f.metadata.get("range", (None, None))
        if low is not None and not low <= value <= high:
            raise ConfigFieldError(f.name, f"must be in [{low}, {high}], got {value!r}")


@dataclass
class TransformerConfig:
    """One ST-transformer trunk: `depth` blocks of width `dim`."""

    dim: int = bounded(1, 65536)
    depth: int = bounded(1, 1024)
    heads: int = bounded(1, 1024)
    ffn_mult: float = bounded(0.25, 64, 4.0)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.dim % self.heads:
            raise GenieError(f"transformer dim {self.dim} is not divisible by heads {self.heads}")
        if (self.dim // self.heads) % 2:
            raise GenieError(f"head size {self.dim // self.heads} must be even (rotary embeddings)")


@dataclass
class QuantizerConfig:
    """A VQ codebook and its collapse guard (dead-code restart from encoder outputs)."""

    num_codes: int = bounded(2, 1 << 20)
    code_dim: int = bounded(1, 8192)
    commitment: float = bounded(0, 100, 0.25)
    usage_decay: float = bounded(0, 1, 0.99)  # EMA decay of per-code usage
    dead_fraction: float = bounded(0, 1, 0.1)  # a code is dead when its usage EMA < dead_fraction / num_codes

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class TokenizerConfig:
    """ST-ViViT VQ-VAE: patch 4, 1024 x 32 codebook at paper size."""

    patch_size: int = bounded(1, 256, 4)
    quantizer: QuantizerConfig = field(default_factory=lambda: QuantizerConfig(1024, 32))
    encoder: TransformerConfig = field(default_factory=lambda: TransformerConfig(512, 8, 8))
    decoder: TransformerConfig = field(default_factory=lambda: TransformerConfig(512, 8, 8))

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class LatentActionConfig:
    """Latent action model on pixels: patch 16, |A| = 8 codes x 32 dims."""

    patch_size: int = bounded(1, 256, 16)
    quantizer: QuantizerConfig = field(
        default_factory=lambda: QuantizerConfig(8, 32, usage_decay=0.98, dead_fraction=0.2)
    )
    encoder: TransformerConfig = field(default_factory=lambda: TransformerConfig(512, 8, 8))
    decoder: TransformerConfig = field(default_factory=lambda: TransformerConfig(512, 8, 8))
    # Weight of pixels that change (vs 1 for the rest) in the decoder's loss: without it a
    # decoder that ignores the latent already scores well on frames where a small arm moves.
    moving_weight: float = bounded(1, 10_000, 10.0)

    def __post_init__(self) -> None:
        check_fields(self)


# Which samples a MaskGIT step keeps (models/maskgit.py): the most confident, or a random order.
UNMASKING_ORDERS = ("confidence", "random")


@dataclass
class DynamicsConfig:
    """MaskGIT dynamics on an ST-transformer, with its sampling defaults (paper: 25 steps, T=2)."""

    transformer: TransformerConfig = field(default_factory=lambda: TransformerConfig(1024, 16, 16))
    mask_rate_min: float = bounded(0, 1, 0.5)
    mask_rate_max: float = bounded(0, 1, 1.0)
    # Context noise: a rollout's context holds the model's own frames, with their mistakes. Each
    # training clip replaces this share of its unmasked tokens after frame 0 with random codes,
    # drawn per clip from U(0, context_noise_max) (0: clean context only, plain teacher forcing).
    context_noise_max: float = bounded(0, 1, 0.0)
    # Self-forcing: this share of training clips sees the model's own rollout as its context
    # (targets stay the true frames), so training meets the drift rollouts feed back (0: never).
    self_forcing: float = bounded(0, 1, 0.0)
    maskgit_steps: int = bounded(1, 1000, 25)
    temperature: float = bounded(0, 100, 2.0)
    schedule: str = "cosine"  # fraction of tokens still masked after each MaskGIT step
    unmasking: str = "confidence"  # which samples a MaskGIT step keeps (models/maskgit.py): UNMASKING_ORDERS

    def __post_init__(self) -> None:
        check_fields(self)
        if self.mask_rate_min > self.mask_rate_max:
            raise ConfigFieldError("mask_rate_min", f"{self.mask_rate_min} is above mask_rate_max {self.mask_rate_max}")
        if self.schedule not in ("cosine", "linear"):
            raise ConfigFieldError("schedule", f"must be cosine or linear, got {self.schedule!r}")
        if self.unmasking not in UNMASKING_ORDERS:
            raise ConfigFieldError("unmasking", f"must be one of {', '.join(UNMASKING_ORDERS)}, got {self.unmasking!r}")


# Fields that say how to train or sample, not what the weights are.
NOT_IN_WEIGHTS = frozenset({"maskgit_steps", "temperature", "schedule", "unmasking", "mask_rate_min", "mask_rate_max",
                            "context_noise_max", "self_forcing", "moving_weight", "usage_decay", "dead_fraction"})


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


@dataclass
class GenieConfig:
    """The whole stack: frame size, context length and the three components."""

    name: str = "custom"
    height: int = bounded(8, 4096, 64)
    width: int = bounded(8, 4096, 64)
    frames: int = bounded(2, 1024, 16)  # clip length in training and the context window at inference
    fps: int = bounded(1, 1000, 10)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    lam: LatentActionConfig = field(default_factory=LatentActionConfig)
    dynamics: DynamicsConfig = field(default_factory=DynamicsConfig)

    def __post_init__(self) -> None:
        check_fields(self)
        for label, patch in (("tokenizer", self.tokenizer.patch_size), ("lam", self.lam.patch_size)):
            if self.height % patch or self.width % patch:
                raise GenieError(
                    f"frame size {self.height}x{self.width} is not divisible by the {label} patch {patch}"
                )

    @property
    def num_actions(self) -> int:
        return self.lam.quantizer.num_codes

    @property
    def token_grid(self) -> tuple[int, int]:
        p = self.tokenizer.patch_size
        return self.height // p, self.width // p

    @property
    def tokens_per_frame(self) -> int:
        h, w = self.token_grid
        return h * w

    def weight_differences(self, other: GenieConfig) -> list[str]:
        """Dotted names of the fields whose difference makes `other`'s weights unusable here.

        Sampling defaults and training-only settings (mask rates, context noise, loss weights,
        codebook upkeep) are left out: a checkpoint trained with other values still fits."""
        mine, theirs = _flatten(self.to_dict()), _flatten(other.to_dict())
        return sorted(k for k in mine.keys() | theirs.keys()
                      if k.split(".")[-1] not in NOT_IN_WEIGHTS and k != "name" and mine.get(k) != theirs.get(k))

    def with_sampling_of(self, other: GenieConfig) -> GenieConfig:
        """This config with `other`'s sampling defaults (MaskGIT steps, temperature, schedule, unmasking order)."""
        d = other.dynamics
        return dataclasses.replace(self, dynamics=dataclasses.replace(
            self.dynamics, maskgit_steps=d.maskgit_steps, temperature=d.temperature, schedule=d.schedule,
            unmasking=d.unmasking))

    # --- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenieConfig:
        try:
            return _build(cls, data)
        except (TypeError, KeyError, ValueError, GenieError) as exc:
            raise GenieError(f"invalid Genie config: {exc}") from None

    def save(self, path: str | Path) -> None:
        """Write as YAML or JSON (chosen by suffix), atomically."""
        path = Path(path)
        if path.suffix == ".json":
            text = json.dumps(self.to_dict(), indent=2) + "\n"
        else:
            import yaml

            text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        atomic_write_text(path, text)

    @classmethod
    def load(cls, path: str | Path) -> GenieConfig:
        path = Path(path)
        if not path.is_file():
            raise GenieError(f"config file {path} does not exist")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise GenieError(f"config file {path} is not readable text ({type(exc).__name__})") from None
        try:
            if path.suffix == ".json":
                data = json.loads(text)
            else:
                import yaml

                data = yaml.safe_load(text)
        except Exception as exc:  # parser errors vary; report them on one line
            raise GenieError(f"config file {path} does not parse: {str(exc).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise GenieError(f"config file {path} does not hold a mapping")
        return cls.from_dict(data)


def _build(cls: type, data: dict[str, Any]) -> Any:
    """Recursively build nested dataclasses from plain dicts, rejecting unknown keys."""
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__} expects a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise KeyError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
    kwargs = {}
    for name, value in data.items():
        ftype = fields[name].type
        sub = _NESTED.get(ftype if isinstance(ftype, str) else getattr(ftype, "__name__", ""))
        try:
            kwargs[name] = _build(sub, value) if sub else value
        except ConfigFieldError as exc:
            raise exc.inside(name) from None
    missing = [f.name for f in fields.values() if f.name not in kwargs
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise KeyError(f"missing {cls.__name__} keys: {missing}")
    return cls(**kwargs)


_NESTED = {
    "TransformerConfig": TransformerConfig,
    "QuantizerConfig": QuantizerConfig,
    "TokenizerConfig": TokenizerConfig,
    "LatentActionConfig": LatentActionConfig,
    "DynamicsConfig": DynamicsConfig,
}


def _stack(name: str, size: int, codes: int, tokenizer: tuple, lam: tuple, dynamics: tuple,
           usage_decay: float = 0.99, lam_patch: int = 16) -> GenieConfig:
    """A preset from trunk sizes (dim, depth, heads); encoder and decoder of a component match."""
    t = lambda spec: TransformerConfig(*spec)  # noqa: E731
    return GenieConfig(
        name=name,
        height=size,
        width=size,
        tokenizer=TokenizerConfig(quantizer=QuantizerConfig(codes, 32, usage_decay=usage_decay),
                                  encoder=t(tokenizer), decoder=t(tokenizer)),
        lam=LatentActionConfig(patch_size=lam_patch, encoder=t(lam), decoder=t(lam)),
        dynamics=DynamicsConfig(transformer=t(dynamics)),
    )


PRESETS = {
    # Trains in minutes on 2 CPU cores at 64x64; a small codebook with a fast-reacting usage EMA.
    # Its LAM uses 8x8 patches: 16x16 ones leave only 16 patches per 64x64 frame to draw the arm with.
    "tiny": lambda: _stack("tiny", 64, 256, (64, 2, 4), (64, 2, 4), (128, 4, 4), usage_decay=0.9, lam_patch=8),
    # A single-GPU model (~70M parameters) at 128x128.
    "small": lambda: _stack("small", 128, 1024, (256, 4, 8), (256, 4, 8), (512, 12, 8)),
    # The paper's robotics model size: 2.5B in total (tokenizer ~200M, LAM ~300M); 160x160 is our choice.
    "robotics-2.5b": lambda: _stack("robotics-2.5b", 160, 1024, (1024, 6, 16), (1024, 9, 16), (2048, 30, 16)),
}


def preset(name: str) -> GenieConfig:
    """A fresh config for a named preset."""
    if name not in PRESETS:
        raise GenieError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]()
