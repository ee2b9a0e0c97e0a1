"""Training clips from RLDS / Open X-Embodiment datasets on disk.

Any directory `tfds.builder_from_directory` accepts (a local copy of
`fractal20220817_data/0.1.0`, `bridge_dataset/1.0.0`, a dataset rendered by this project, ...)
becomes a stream of clips uint8 [T, H, W, 3] resized to the model's resolution. Clips are
windows of consecutive steps of one episode (`rlds.transformations.batch`), so none spans two
episodes. Episodes, not clips, are split into train/validation and sharded across DeepSpeed
ranks and DataLoader workers, so no two readers see the same episode. Actions are never used
for training, but can be returned (flattened to one float vector per step) for probing.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset

from genie_robotics.core.errors import GenieError
from genie_robotics.data.tf_env import tensorflow, tfds

# Camera keys of Open X-Embodiment datasets, in order of preference (main camera first).
OXE_IMAGE_KEYS = (
    "image", "rgb", "image_0", "front_rgb", "agentview_rgb", "rgb_static", "cam_high",
    "image_1", "image_2", "hand_image", "wrist_image", "image_wrist", "rgb_gripper",
    "cam_left_wrist", "cam_right_wrist", "eye_in_hand_rgb",
)
PARTS = ("train", "validation", "all")


@dataclass
class RLDSSource:
    """One RLDS dataset directory, checked and described."""

    path: Path
    builder: Any
    image_key: str
    image_shape: tuple[int, ...]
    split: str
    episodes: int
    action_keys: list[tuple[str, ...]] = field(default_factory=list)  # numeric leaves of `action`, sorted
    action_sizes: list[int] = field(default_factory=list)  # their flattened sizes, in the same order
    action_dim: int = 0
    weight: float = 1.0

    def action_columns(self, key: str) -> slice | None:
        """Columns of the flattened action vector (see `clip_pipeline`) that hold `action/<key>`
        ('world_vector', or a nested 'a/b'), or None when the dataset has no such numeric leaf."""
        start = 0
        for path, size in zip(self.action_keys, self.action_sizes):
            if "/".join(path) == key:
                return slice(start, start + size)
            start += size
        return None


def _dataset_dir(path: Path) -> Path:
    """The version folder holding dataset_info.json (descends one or two levels if unique)."""
    if not path.exists():
        raise GenieError(f"dataset directory {path} does not exist")
    if not path.is_dir():
        raise GenieError(f"dataset path {path} is not a directory")
    if (path / "dataset_info.json").is_file():
        return path
    found = sorted(c for c in (*path.glob("*"), *path.glob("*/*")) if (c / "dataset_info.json").is_file())
    if len(found) == 1:
        return found[0]
    if found:
        names = ", ".join(str(f.relative_to(path)) for f in found[:4])
        raise GenieError(f"{path} holds several datasets ({names}); point at one of them")
    raise GenieError(
        f"{path} is not a TFDS/RLDS dataset directory (no dataset_info.json); point at the version "
        f"folder, e.g. fractal20220817_data/0.1.0"
    )


def _action_leaves(feature, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], int]]:
    """(key path, flattened size) of every numeric leaf of an action feature, sorted."""
    f = tfds().features
    if isinstance(feature, f.FeaturesDict):
        leaves = []
        for key in sorted(feature.keys()):
            leaves += _action_leaves(feature[key], prefix + (key,))
        return leaves
    if isinstance(feature, f.Tensor) and np.dtype(feature.np_dtype).kind in "fiub":
        shape = feature.shape or ()
        if any(d is None for d in shape):
            return []
        return [(prefix, int(np.prod(shape)) if shape else 1)]
    return []


def open_rlds(path: str | Path, image_key: str | None = None, weight: float = 1.0, split: str | None = None) -> RLDSSource:
    """Open and check one dataset directory; the camera key is chosen from OXE_IMAGE_KEYS."""
    directory = _dataset_dir(Path(path))
    try:
        builder = tfds().builder_from_directory(str(directory))
    except Exception as exc:  # tfds raises many types for a broken directory
        raise GenieError(f"{directory} is not a readable TFDS/RLDS dataset: {str(exc).splitlines()[0]}") from None
    features = builder.info.features
    if "steps" not in features:
        raise GenieError(f"{directory} is not an RLDS dataset (episodes have no 'steps'; keys: {sorted(features.keys())})")
    steps = features["steps"]
    obs = steps["observation"] if "observation" in steps else None
    f = tfds().features
    images = {k: obs[k] for k in obs.keys() if isinstance(obs[k], f.Image)} if isinstance(obs, f.FeaturesDict) else {}
    if image_key is None:
        image_key = next((k for k in OXE_IMAGE_KEYS if k in images), None) or next(
            (k for k, v in images.items() if (v.shape or (0,))[-1] == 3), None)
        if image_key is None:
            keys = sorted(obs.keys()) if isinstance(obs, f.FeaturesDict) else sorted(steps.keys())
            raise GenieError(f"no camera image found in {directory}; observation keys: {', '.join(keys)} (use --image-key)")
    elif image_key not in images:
        keys = sorted(obs.keys()) if isinstance(obs, f.FeaturesDict) else []
        raise GenieError(f"image key {image_key!r} is not an image in {directory}; observation keys: {', '.join(keys)}")
    splits = builder.info.splits
    split = split or ("train" if "train" in splits else next(iter(splits.keys())))
    if split not in splits:
        raise GenieError(f"{directory} has no split {split!r}; splits: {', '.join(splits.keys())}")
    leaves = _action_leaves(steps["action"]) if "action" in steps else []
    return RLDSSource(
        path=directory, builder=builder, image_key=image_key, image_shape=tuple(images[image_key].shape),
        split=split, episodes=int(splits[split].num_examples), action_keys=[k for k, _ in leaves],
        action_sizes=[n for _, n in leaves], action_dim=sum(n for _, n in leaves), weight=weight,
    )


def parse_data_arg(arg: str) -> tuple[str, float]:
    """'DIR' or 'DIR:weight' (a weight for mixing several datasets)."""
    head, sep, tail = arg.rpartition(":")
    if sep and head:
        try:
            weight = float(tail)
        except ValueError:
            return arg, 1.0
        if weight <= 0:
            raise GenieError(f"dataset weight must be positive in {arg!r}")
        return head, weight
    return arg, 1.0


def part_split(src: RLDSSource, part: str, val_fraction: float) -> tuple[str, int]:
    """tfds split string and episode count of the train / validation part of a source."""
    if part not in PARTS:
        raise GenieError(f"unknown part {part!r}; expected one of {PARTS}")
    n_val = 0 if src.episodes < 2 else max(1, round(src.episodes * val_fraction)) if val_fraction > 0 else 0
    n_train = src.episodes - n_val
    if part == "train":
        return f"{src.split}[:{n_train}]", n_train
    if part == "validation":
        return f"{src.split}[{n_train}:]", n_val
    return src.split, src.episodes


def episode_lengths(src: RLDSSource, split: str | None = None) -> Iterator[tuple[str, int]]:
    """(episode id, steps) of each episode in file order, without decoding any image."""
    tf = tensorflow()
    skip_images = {"steps": {"observation": {src.image_key: tfds().decode.SkipDecoding()}}}
    episodes = src.builder.as_dataset(split=split or src.split, shuffle_files=False, decoders=skip_images,
                                      read_config=tfds().ReadConfig(add_tfds_id=True))
    lengths = episodes.map(lambda ep: (ep["tfds_id"], ep["steps"].reduce(tf.constant(0, tf.int64), lambda n, _: n + 1)))
    for episode_id, length in lengths.as_numpy_iterator():
        yield episode_id.decode(), int(length)


def check_clip_fits(src: RLDSSource, frames: int, split: str | None = None) -> None:
    """GenieError unless some episode has >= `frames` steps (a repeated pipeline over only
    shorter episodes would wait forever for its first clip). Stops at the first episode that
    fits, so it reads the whole dataset only when it is about to fail."""
    longest, longest_id = 0, None
    for episode_id, length in episode_lengths(src, split):
        if length >= frames:
            return
        if length > longest:
            longest, longest_id = length, episode_id
    raise GenieError(f"clips of {frames} frames are longer than every episode of {src.path} "
                     f"(longest: {longest} steps, {longest_id}); use --clip-frames <= {longest}")


@dataclass
class ClipSpec:
    """What clips to cut and how to read them."""

    frames: int = 16
    height: int = 64
    width: int = 64
    stride: int | None = None  # steps between clip starts; default frames // 2
    shuffle_buffer: int = 256  # clips; 0 = no shuffling (reproducible order)
    part: str = "train"
    val_fraction: float = 0.05
    seed: int = 0
    with_actions: bool = False
    repeat: bool = True
    cycle_length: int = 4  # episodes read in parallel per source
    ram_budget_mb: int = 1024  # bound on tf.data's autotuned buffers


def _get(tree: dict, path: tuple[str, ...]):
    for key in path:
        tree = tree[key]
    return tree


def clip_pipeline(sources: Sequence[RLDSSource], spec: ClipSpec, shard_index: int = 0, num_shards: int = 1):
    """A tf.data.Dataset of {'frames': uint8 [T,H,W,3], 'episode': str, ('actions': f32 [T,A])}."""
    import rlds

    tf = tensorflow()
    stride = spec.stride or max(1, spec.frames // 2)
    shuffle = spec.shuffle_buffer > 0
    per_source = []
    for src in sources:
        split, count = part_split(src, spec.part, spec.val_fraction)
        if count < num_shards:
            raise GenieError(
                f"{src.path}: {count} {spec.part} episodes cannot be shared by {num_shards} readers (ranks x workers)"
            )
        if num_shards > 1:
            split = tfds().even_splits(split, n=num_shards)[shard_index]
        read_config = tfds().ReadConfig(shuffle_seed=spec.seed, add_tfds_id=True)
        # Ordered datasets (written with disable_shuffling) refuse shuffled file reads; the clip
        # shuffle buffer below still mixes them.
        shuffle_files = shuffle and not src.builder.info.disable_shuffling
        episodes = src.builder.as_dataset(split=split, shuffle_files=shuffle_files, read_config=read_config)
        if spec.repeat:
            episodes = episodes.repeat()

        def windows(episode, src=src):
            def step_fields(step):
                out = {"frames": step["observation"][src.image_key]}
                if spec.with_actions:
                    parts = [tf.reshape(tf.cast(_get(step["action"], k), tf.float32), [-1]) for k in src.action_keys]
                    out["actions"] = tf.concat(parts, 0) if parts else tf.zeros([0], tf.float32)
                return out

            clips = rlds.transformations.batch(episode["steps"].map(step_fields), size=spec.frames, shift=stride, drop_remainder=True)
            return clips.map(lambda c: {**c, "episode": episode["tfds_id"]})

        per_source.append(episodes.interleave(
            # Deterministic order: a seeded run (and a resumed one) sees the same clips.
            windows, cycle_length=spec.cycle_length, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
        ))

    if len(per_source) == 1:
        ds = per_source[0]
    else:
        weights = np.array([s.weight for s in sources], dtype=np.float64)
        ds = tf.data.Dataset.sample_from_datasets(per_source, weights=list(weights / weights.sum()), seed=spec.seed)

    def resize(clip):
        frames = clip["frames"]
        if tuple(frames.shape[1:3]) != (spec.height, spec.width):
            frames = tf.image.resize(frames, (spec.height, spec.width), method="bilinear", antialias=True)
            frames = tf.cast(tf.clip_by_value(tf.round(frames), 0, 255), tf.uint8)
        return {**clip, "frames": tf.ensure_shape(frames, (spec.frames, spec.height, spec.width, 3))}

    ds = ds.map(resize, num_parallel_calls=tf.data.AUTOTUNE)
    if shuffle:
        ds = ds.shuffle(spec.shuffle_buffer, seed=spec.seed)
    options = tf.data.Options()
    options.autotune.ram_budget = spec.ram_budget_mb * 2**20
    return ds.with_options(options).prefetch(2)


def find_bad_record_file(sources: Sequence[RLDSSource]) -> str | None:
    """The first record file that is unreadable or holds fewer records than dataset_info says.

    A tfrecord cut short mid-file often reads without error and just ends early, so counting
    against the shard lengths tfds recorded is what catches it.
    """
    tf = tensorflow()
    for src in sources:
        for split in src.builder.info.splits.values():
            for path, expected in zip(split.filepaths, split.shard_lengths):
                count = 0
                try:
                    for _ in tf.data.TFRecordDataset(str(path)):
                        count += 1
                except tf.errors.OpError:
                    return str(path)
                if count != expected:
                    return str(path)
    return None


def iterate_clips(sources: Sequence[RLDSSource], spec: ClipSpec, shard_index: int = 0, num_shards: int = 1) -> Iterator[dict]:
    """NumPy clips from `clip_pipeline`, turning a truncated record file into one clear error."""
    tf = tensorflow()
    iterator = clip_pipeline(sources, spec, shard_index, num_shards).as_numpy_iterator()
    while True:
        try:
            clip = next(iterator)
        except StopIteration:
            return
        except tf.errors.OpError as exc:
            bad = find_bad_record_file(sources)
            if bad:
                raise GenieError(f"record file {bad} is truncated or corrupt") from None
            raise GenieError(f"reading {', '.join(str(s.path) for s in sources)} failed: {exc.message.splitlines()[0]}") from None
        clip["episode"] = clip["episode"].decode()
        yield clip


def distributed_rank() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment or torch.distributed."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class RLDSClipDataset(IterableDataset):
    """PyTorch view of the clip pipeline, sharded by episode over ranks and workers.

    Each (rank, worker) reads a disjoint slice of the episodes. Yields dicts with 'frames'
    (uint8 tensor [T, H, W, 3]), 'episode' (str) and, with `with_actions`, 'actions'. Use
    `multiprocessing_context="spawn"` for DataLoader workers: TensorFlow is not fork-safe.
    """

    def __init__(self, data: Sequence[str | Path | RLDSSource], spec: ClipSpec, image_key: str | None = None,
                 rank: int | None = None, world_size: int | None = None) -> None:
        super().__init__()
        self.sources = [d if isinstance(d, RLDSSource) else _open_with_weight(d, image_key) for d in data]
        self.spec = spec
        env_rank, env_world = distributed_rank()
        self.rank = env_rank if rank is None else rank
        self.world_size = env_world if world_size is None else world_size
        for src in self.sources:
            _, count = part_split(src, spec.part, spec.val_fraction)
            if count < self.world_size:
                raise GenieError(f"{src.path}: {count} {spec.part} episodes cannot be shared by {self.world_size} ranks")

    def __getstate__(self) -> dict:
        """Picklable for spawned DataLoader workers: tfds builders are reopened there."""
        state = dict(self.__dict__)
        state["sources"] = [(str(s.path), s.image_key, s.weight, s.split) for s in self.sources]
        return state

    def __setstate__(self, state: dict) -> None:
        saved: list[tuple[str, str | None, float, str]] = state.pop("sources")
        self.__dict__.update(state)
        self.sources = [open_rlds(p, image_key=k, weight=w, split=sp) for p, k, w, sp in saved]

    def __iter__(self) -> Iterator[dict]:
        info = torch.utils.data.get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        shard, shards = self.rank * workers + worker, self.world_size * workers
        for clip in iterate_clips(self.sources, self.spec, shard, shards):
            # tf.data hands out read-only arrays: copy into tensors PyTorch may write to.
            out = {"frames": torch.from_numpy(clip["frames"].copy()), "episode": clip["episode"]}
            if "actions" in clip:
                out["actions"] = torch.from_numpy(clip["actions"].copy())
            yield out


def _open_with_weight(item: str | Path, image_key: str | None) -> RLDSSource:
    """Open 'DIR' or 'DIR:weight'."""
    path, weight = parse_data_arg(item) if isinstance(item, str) else (str(item), 1.0)
    return open_rlds(path, image_key=image_key, weight=weight)
