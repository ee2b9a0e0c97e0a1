#!/usr/bin/env bash
# The whole test suite: set up .venv if needed, lint with ruff (config in pyproject.toml), then run pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh" "train,ros,eval,test"
cd "$root"
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
