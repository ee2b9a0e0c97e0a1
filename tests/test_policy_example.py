"""examples/policy_pretraining.py --quick end to end (Genie Sec. 3.3 at small scale), in a subprocess."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCORES = ("random", "bc_200", "bc_oracle_all", "latent_policy_200")


@pytest.mark.slow
def test_policy_pretraining_quick(tmp_path):
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "policy_pretraining.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)  # stdout holds exactly the one JSON object
    assert json.loads((tmp_path / "policy_pretraining.json").read_text()) == result

    for key in SCORES + ("expert",):
        assert 0.0 <= result[key] <= 1.0, (key, result[key])
    # The task score means something: the scripted expert reaches the target, random torques do not.
    assert result["expert"] >= 0.5 and result["expert"] - result["random"] >= 0.4, result

    lam = result["lam"]
    cfg = result["config"]
    transitions = cfg["expert_episodes"] * cfg["steps"]
    assert lam["checkpoint"].endswith("checkpoints/tiny")
    assert lam["labels"] == lam["transitions"] == lam["expert_transitions"] == transitions
    assert 1 <= lam["distinct_codes"] <= 8 and len(lam["code_usage"]) == 8
    assert abs(sum(lam["code_usage"]) - 1.0) < 1e-3
    assert all(0 < n <= 200 for n in result["labelled_transitions"])
