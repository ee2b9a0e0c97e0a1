"""What N worlds need, and the refusal before allocating when they do not fit."""
import subprocess
import sys

import pytest

from genie_robotics.core.errors import GenieError
from genie_robotics.sim.memory import check_worlds_fit, memory_need, parse_bytes


def test_the_cache_estimate_is_the_caches_a_world_allocates(tiny_genie):
    """Counted from the config, equal to the bytes of the two caches a rollout really holds."""
    from genie_robotics.sim.rollout_backend import TorchBackend

    caches = TorchBackend(tiny_genie).empty_caches(3)
    held = sum(t.numel() * t.element_size() for c in caches for t in (c.rotated_keys_LXHCD, c.values_LXHCD))
    need = memory_need(tiny_genie.cfg, 3)
    assert 3 * need.cache_bytes_per_world == held


def test_worlds_stepped_in_chunks_need_the_working_memory_of_one_chunk(tiny_genie):
    """Caches grow with every world; a call's working memory only up to the chunk's worlds."""
    cfg = tiny_genie.cfg
    one_call, chunked = memory_need(cfg, 64), memory_need(cfg, 64, world_chunk=16)
    assert one_call.total - chunked.total == 48 * one_call.working_bytes_per_world
    assert memory_need(cfg, 8, world_chunk=16).total == memory_need(cfg, 8).total
    growth = memory_need(cfg, 65, world_chunk=16).total - chunked.total
    assert one_call.cache_bytes_per_world <= growth < 1.1 * one_call.cache_bytes_per_world


@pytest.mark.parametrize("chunk", [None, 4])
def test_too_many_worlds_are_refused_naming_need_available_and_what_fits(tiny_genie, monkeypatch, chunk):
    need = memory_need(tiny_genie.cfg, 10, chunk)
    monkeypatch.setenv("GENIE_MEMORY_LIMIT", str(need.total))
    assert check_worlds_fit(tiny_genie.cfg, 10, world_chunk=chunk).worlds == 10
    assert need.worlds_that_fit(need.total) == 10 and need.worlds_that_fit(need.total - 1) == 9
    with pytest.raises(GenieError, match=r"num_envs 11 needs about .* GB .* is available; at most 10 worlds fit"):
        check_worlds_fit(tiny_genie.cfg, 11, world_chunk=chunk)


@pytest.mark.parametrize("text, value", [("4G", 4 * 2**30), ("512M", 512 * 2**20), ("1.5GiB", int(1.5 * 2**30)),
                                         ("123", 123)])
def test_memory_limit_values(text, value):
    assert parse_bytes(text) == value


def test_an_unreadable_memory_limit_is_named():
    with pytest.raises(GenieError, match="GENIE_MEMORY_LIMIT must be a byte count"):
        parse_bytes("lots")


def test_generate_refuses_a_batch_that_does_not_fit_in_one_line(tmp_path, mujoco_dir):
    import os

    from genie_robotics.core.assets import SHIPPED_CHECKPOINT

    env = dict(os.environ, GENIE_MEMORY_LIMIT="100M")
    done = subprocess.run([sys.executable, "-m", "genie_robotics.cli.main", "generate", str(SHIPPED_CHECKPOINT),
                           "--prompts", str(mujoco_dir), "--out", str(tmp_path / "gen"), "--episodes", "4",
                           "--steps", "3", "--batch", "4", "--no-progress"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--batch 4 needs about" in lines[0] and "at most 0 worlds fit" in lines[0]
    assert not (tmp_path / "gen").exists()
