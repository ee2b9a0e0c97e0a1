#!/usr/bin/env bash
# The whole test suite: set up .venv if needed, lint with ruff, type-check with mypy (both configured
# in pyproject.toml), then run pytest. `--fast`: the unit tests only (no ROS node processes, no
# DeepSpeed launches, no torch.compile, nothing marked slow), for the edit loop; other arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh" "train,ros,eval,test"
cd "$root"
args=()
for arg in "$@"; do
    if [[ "$arg" == "--fast" ]]; then
        args+=(-m "not ros and not deepspeed and not compile and not slow")
    else
        args+=("$arg")
    fi
done
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "${args[@]}"
