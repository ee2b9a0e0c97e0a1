"""The command map: robot commands (world_vector) -> latent actions, stored as checked JSON."""
import json

import numpy as np
import pytest

from genie_robotics.analysis.command_labels import label_commands
from genie_robotics.commands import COMMAND_MAP_FILE, CommandMap, codebook_digest, fit_command_map, load_command_map
from genie_robotics.commands.command_map import _digest
from genie_robotics.core.checkpoint_files import save_checkpoint
from genie_robotics.core.errors import GenieError


def _labels(n=900, seed=0):
    """Headings 0-7 of 4 cm steps plus stops (code 8), with a little noise: code = heading."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 9, n)
    angles = codes * np.pi / 4
    step = np.where(codes == 8, 0.0, 0.04)[:, None]
    commands = np.stack([np.cos(angles), np.zeros(n), np.sin(angles)], 1) * step + rng.normal(0, 0.003, (n, 3))
    return commands, codes


def test_fit_recovers_a_clean_command_to_code_relation_and_the_mean_commands():
    commands, codes = _labels()
    fitted = fit_command_map(commands, codes, 9, 10.0, "d" * 64)
    test_commands, test_codes = _labels(300, seed=1)
    assert (fitted.latent_actions(test_commands) == test_codes).mean() > 0.97
    assert fitted.latent_actions(np.zeros(3)) == 8  # a zero command is "hold still"
    assert fitted.latent_actions(np.zeros((2, 5, 3))).shape == (2, 5)
    assert np.allclose(fitted.code_commands_AF[2], [0, 0, 0.04], atol=0.003) and fitted.code_counts_A.sum() == 900
    assert np.allclose(fitted.probabilities(test_commands).sum(-1), 1.0)


def test_bad_commands_are_refused():
    fitted = fit_command_map(*_labels(), 9, 10.0, "d" * 64)
    for bad in ([np.nan, 0, 0], [np.inf, 0, 0], [0.1, 0.2], 0.3):
        with pytest.raises(GenieError):
            fitted.latent_actions(bad)


def test_json_round_trip_and_every_kind_of_damage_is_one_clear_error():
    fitted = fit_command_map(*_labels(), 9, 10.0, "d" * 64, fitted_on={"episodes": 20})
    text = fitted.to_json()
    again = CommandMap.from_json(text)
    commands, _ = _labels(100, seed=2)
    assert (again.latent_actions(commands) == fitted.latent_actions(commands)).all() and again.fitted_on == {"episodes": 20}
    data = json.loads(text)
    edited = dict(data, bias=[b + 1 for b in data["bias"]])
    consistent_but_wrong_shape = {k: v for k, v in data.items() if k != "sha256"}
    consistent_but_wrong_shape["scale"] = [1.0]
    consistent_but_wrong_shape["sha256"] = _digest({k: v for k, v in consistent_but_wrong_shape.items() if k != "sha256"})
    for bad, why in ((text[:100], "not JSON"), (json.dumps(edited), "sha256 does not match"),
                     (json.dumps(dict(data, format="pickle")), "not a genie-command-map"),
                     (json.dumps(consistent_but_wrong_shape), "scale must be")):
        with pytest.raises(GenieError, match=why):
            CommandMap.from_json(bad, "map.json")


def test_a_map_is_only_loaded_for_the_lam_it_was_fitted_on(tiny_genie, tmp_path):
    ckpt = save_checkpoint(tiny_genie, tmp_path / "ckpt")
    with pytest.raises(GenieError, match="has no command_map.json"):
        load_command_map(ckpt)
    commands, codes = _labels()
    codebook = tiny_genie.lam.quantizer.codebook
    fit_command_map(commands, codes % tiny_genie.cfg.num_actions, tiny_genie.cfg.num_actions, 10.0,
                    codebook_digest(codebook)).save(ckpt)
    assert load_command_map(ckpt).num_actions == tiny_genie.cfg.num_actions  # checked against the checkpoint's LAM
    other = tmp_path / "other"
    other.mkdir()
    fit_command_map(commands, codes % 8, 8, 10.0, "0" * 64).save(other)
    (ckpt / COMMAND_MAP_FILE).write_text((other / COMMAND_MAP_FILE).read_text())
    with pytest.raises(GenieError, match="another latent action model"):
        load_command_map(ckpt)


def test_labelled_episodes_give_one_command_per_transition(tiny_genie, mujoco_dir):
    labelled = label_commands(tiny_genie, mujoco_dir, progress=False)
    assert labelled.episodes == 4 and len(labelled.codes_N) == 4 * 7  # 8 steps: 7 transitions each
    assert labelled.commands_NF.shape == (28, 4)  # world_vector + the gripper
    assert labelled.first(1).episodes == 1 and labelled.after(1).episodes == 3
    assert np.abs(labelled.commands_NF[:, :3]).max() <= 0.05


@pytest.mark.slow
def test_fit_command_map_command_writes_the_map_beside_the_weights(tiny_genie, mujoco_dir, tmp_path):
    import subprocess
    import sys

    ckpt = save_checkpoint(tiny_genie, tmp_path / "ckpt")
    run = subprocess.run([sys.executable, "-m", "genie_robotics.cli", "fit-command-map", str(ckpt), "--data",
                          str(mujoco_dir), "--episodes", "2", "--heldout-episodes", "2", "--no-progress"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "fitted on 14 transitions of 2 episodes" in run.stdout and "2 held-out episodes" in run.stdout
    fitted = load_command_map(ckpt)
    assert fitted.fitted_on["episodes"] == 2 and fitted.fitted_on["heldout_episodes"] == 2
    too_many = subprocess.run([sys.executable, "-m", "genie_robotics.cli", "fit-command-map", str(ckpt), "--data",
                               str(mujoco_dir), "--episodes", "9", "--no-progress"], capture_output=True, text=True,
                              timeout=300)
    assert too_many.returncode == 2 and too_many.stderr.count("\n") == 1 and "fewer than --episodes 9" in too_many.stderr
