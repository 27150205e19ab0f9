#!/usr/bin/env bash
# GPU smoke check (docs/gpu.md): warm start, 20 Stage 1 + 20 Stage 2 steps in bf16 and an evaluation of
# an in-project ~52M model on one CUDA GPU, in <= 8 minutes, nothing downloaded. `--dry-run`: the
# CPU-safe checks only (imports, configs, the plan). All options: scripts/gpu_smoke.sh -h
set -euo pipefail
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || { echo "gpu_smoke: error: no $PY — fix: set PYTHON=/path/to/python"; exit 3; }
exec "$PY" "$(dirname "$0")/gpu_smoke.py" "$@"
