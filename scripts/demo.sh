#!/usr/bin/env bash
# The main job on the embedded default: set up .venv if needed, then run the ROS 2 demo
# (shipped tiny checkpoint -> ONNX -> genie_sim node, driven through all 8 latent actions).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh" "data,ros"
exec "$root/.venv/bin/genie-robotics" demo "$@"
