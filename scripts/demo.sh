#!/usr/bin/env bash
# The main job on the embedded default: set up .venv if needed, then run the demo.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh" "data"
exec "$root/.venv/bin/genie-robotics" demo "$@"
