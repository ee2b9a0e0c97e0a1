"""examples/policy_pretraining.py --quick end to end (latent-action pre-training, Genie §3.3), in a subprocess."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROWS = ("random", "expert", "bc_200", "bc_oracle_all", "latent_policy_200", "synthetic_pretrain_200")


@pytest.mark.slow
def test_policy_pretraining_quick(tmp_path):
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "policy_pretraining.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)  # stdout holds exactly the one JSON object
    assert json.loads((tmp_path / "policy_pretraining.json").read_text()) == result

    for key in ROWS:
        assert 0.0 <= result[key] <= 1.0, (key, result[key])
        assert len(result["draws"][key]) == result["config"]["draws"]
        assert result[key] == pytest.approx(sum(result["draws"][key]) / len(result["draws"][key]))
    # The task score means something: the scripted expert reaches the target, random commands do not.
    assert result["expert"] == 1.0 and result["random"] <= 0.5, result
    cfg = result["config"]
    assert result["demonstrated_transitions"] == cfg["demonstrations"] * 25
    assert result["synthetic_transitions"] == cfg["synthetic_samples"] * result["demonstrated_transitions"]
    assert 0 < result["labelled_transitions"] <= cfg["labelled"]
    assert result["checkpoint"].endswith("checkpoints/tiny") and len(result["checkpoint_sha256"]) == 64
