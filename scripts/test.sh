#!/usr/bin/env bash
# The whole test suite: set up .venv if needed, then run pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh" "train,ros,eval,test"
cd "$root"
exec .venv/bin/python -m pytest "$@"
