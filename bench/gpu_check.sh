#!/usr/bin/env bash
# The GPU measurements of bench/, as one script for a lent GPU machine whose python3 already
# has torch (CUDA) + numpy + safetensors + pyyaml + pillow + tqdm. Writes JSON files to $1.
# Usage: bash bench/gpu_check.sh OUT_DIR; then, here: python bench/gpu_results.py OUT_DIR --date ... --torch ...
# (writes bench/results/gpu_check.json) and python scripts/doc_tables.py (bench/README.md's table).
set -uo pipefail
out="${1:?usage: bench/gpu_check.sh OUT_DIR}"
mkdir -p "$out"
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import torch, onnxruntime as o; print('torch', torch.__version__, 'onnxruntime', o.__version__, o.get_available_providers())" | tee -a "$out/gpu.txt"
# World-model step on the small preset, batch 1: cache vs recompute, and cached through
# torch.compile with CUDA graphs (issue target: >= 60 frames/s at 8 MaskGIT steps).
timeout 240 python3 bench/rollout.py --preset small --device cuda --maskgit-steps 1 8 25 --contexts 16 --compile \
    > "$out/rollout_small_cuda.json" 2> "$out/rollout.err"; echo "rollout rc=$?"
# Training throughput + MFU per phase on the small preset (bf16 autocast), eager.
timeout 150 python3 bench/train.py --preset small --device cuda --batch 8 --frames 16 --steps 10 \
    > "$out/train_small_cuda.json" 2> "$out/train.err"; echo "train rc=$?"
tail -3 "$out"/*.err
cat "$out"/*.json
