"""Write episodes as an RLDS dataset directory that `tfds.builder_from_directory` reads.

Episodes are written to a temporary directory beside the target and moved into place at the
end, so an interrupted write never leaves a half dataset at `out`.
"""
from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from genie_robotics.core.errors import GenieError
from genie_robotics.data.tf_env import tfds


def check_output_dir(out: Path, overwrite: bool) -> None:
    """Refuse to write over an existing dataset unless asked to."""
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise GenieError(f"output directory {out} is not empty; pass --overwrite to replace it")
        if not (out / "dataset_info.json").exists():
            raise GenieError(f"output directory {out} is not empty and not a dataset; refusing to delete it")


def write_rlds(
    out: str | Path,
    name: str,
    features: Any,
    episodes: Iterable[dict],
    description: str = "",
    overwrite: bool = False,
) -> Path:
    """Store `episodes` (dicts matching `features`, a tfds FeaturesDict) as split 'train' at `out`."""
    out = Path(out)
    check_output_dir(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tfds().disable_progress_bar()  # callers show their own progress
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as tmp:
        # tfds prints "Downloading and preparing dataset..." lines to stdout; keep stdout for results.
        with contextlib.redirect_stdout(io.StringIO()):
            builder = tfds().dataset_builders.store_as_tfds_dataset(
                name=name,
                version="1.0.0",
                features=features,
                split_datasets={"train": enumerate(episodes)},  # (key, example) pairs
                data_dir=tmp,
                description=description,
                disable_shuffling=True,  # keep episodes in the order they were made
            )
        built = Path(builder.data_dir)
        if out.exists():
            shutil.rmtree(out)
        shutil.move(str(built), str(out))
    return out

