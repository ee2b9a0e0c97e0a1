import json
import subprocess
import sys

import pytest

from genie_robotics.core.config import PRESETS, GenieConfig, preset
from genie_robotics.core.errors import GenieError
from genie_robotics.models.genie import count_parameters
from tests.helpers import tiny_config_dict


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
@pytest.mark.parametrize("name", list(PRESETS))
def test_config_round_trips(tmp_path, name, suffix):
    cfg = preset(name)
    path = tmp_path / f"cfg{suffix}"
    cfg.save(path)
    assert GenieConfig.load(path) == cfg


def test_paper_facts_in_every_preset():
    for name in PRESETS:
        cfg = preset(name)
        assert cfg.tokenizer.patch_size == 4 and cfg.lam.patch_size == (8 if name == "tiny" else 16)
        assert cfg.num_actions == 8 and cfg.lam.quantizer.code_dim == 32
        assert cfg.frames == 16 and cfg.fps == 10
        assert cfg.dynamics.maskgit_steps == 25 and cfg.dynamics.temperature == 2.0
    assert preset("robotics-2.5b").tokenizer.quantizer.num_codes == 1024


def test_robotics_preset_matches_the_paper_sizes():
    counts = count_parameters(preset("robotics-2.5b"))
    assert abs(counts["total"] - 2.5e9) <= 0.05 * 2.5e9
    assert 180e6 <= counts["tokenizer"] <= 220e6
    assert 270e6 <= counts["lam"] <= 330e6


def test_info_json_from_the_console_script():
    out = subprocess.run(
        [sys.executable, "-m", "genie_robotics.cli", "info", "--preset", "robotics-2.5b", "--json"],
        capture_output=True, text=True, check=True,
    )
    counts = json.loads(out.stdout)
    assert all(isinstance(counts[k], int) for k in ("tokenizer", "lam", "dynamics", "total"))
    assert counts["total"] == counts["tokenizer"] + counts["lam"] + counts["dynamics"]
    assert abs(counts["total"] - 2.5e9) <= 0.05 * 2.5e9


def test_unknown_preset_is_one_line_and_nonzero_exit():
    out = subprocess.run([sys.executable, "-m", "genie_robotics.cli", "info", "--preset", "huge"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "unknown preset 'huge'" in out.stderr


def test_bad_config_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("height: [unclosed\n")
    with pytest.raises(GenieError, match="does not parse"):
        GenieConfig.load(path)
    path.write_text("height: 64\nwings: 2\n")
    with pytest.raises(GenieError, match="wings"):
        GenieConfig.load(path)


@pytest.mark.parametrize("path,value,message", [
    ("height", -64, "height must be in [8, 4096], got -64"),
    ("height", 64.0, "height must be an integer, got 64.0"),
    ("height", 4096000, "height must be in [8, 4096]"),
    ("frames", True, "frames must be an integer, got True"),
    ("lam.encoder.dim", "abc", "lam.encoder.dim must be an integer, got 'abc'"),
    ("tokenizer.quantizer.usage_decay", 1.5, "tokenizer.quantizer.usage_decay must be in [0, 1]"),
    ("dynamics.temperature", -1, "dynamics.temperature must be in [0, 100]"),
    ("dynamics.mask_rate_min", 0.9, "dynamics.mask_rate_min 0.9 is above mask_rate_max"),
    ("dynamics.schedule", "square", "dynamics.schedule must be cosine or linear"),
    ("dynamics.unmasking", "sideways", "dynamics.unmasking must be one of confidence, random"),
    ("name", 7, "name must be a string"),
])
def test_config_values_are_checked_and_the_field_named(path, value, message):
    extra = {"dynamics.mask_rate_max": 0.5} if path == "dynamics.mask_rate_min" else {}
    data = tiny_config_dict(**{path: value}, **extra)
    with pytest.raises(GenieError) as info:
        GenieConfig.from_dict(data)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_missing_required_field_is_named():
    data = preset("tiny").to_dict()
    del data["lam"]["encoder"]["heads"]
    with pytest.raises(GenieError, match="missing TransformerConfig keys: \\['heads'\\]"):
        GenieConfig.from_dict(data)


def test_sampling_and_training_settings_do_not_make_weights_incompatible():
    """`train --init CKPT --preset tiny`: a checkpoint whose sampling defaults were measured and
    stored (1 step, T 0.5) still fits the preset (25 steps, T 2); a wider model does not."""
    import dataclasses

    base = preset("tiny")
    measured = dataclasses.replace(base, dynamics=dataclasses.replace(
        base.dynamics, maskgit_steps=1, temperature=0.5, unmasking="random", context_noise_max=0.2, mask_rate_min=0.3))
    assert base.weight_differences(measured) == []
    kept = base.with_sampling_of(measured)
    assert (kept.dynamics.maskgit_steps, kept.dynamics.temperature, kept.dynamics.unmasking) == (1, 0.5, "random")
    assert kept.dynamics.context_noise_max == base.dynamics.context_noise_max  # training settings: the preset's
    wider = dataclasses.replace(base, dynamics=dataclasses.replace(
        base.dynamics, transformer=dataclasses.replace(base.dynamics.transformer, dim=96)))
    assert base.weight_differences(wider) == ["dynamics.transformer.dim"]
    assert base.weight_differences(preset("small")) != []
