"""What verbalrec keeps beside a model directory, and how a directory is identified.

``verbalrec_run.json`` (written by ``train.provenance.save_provenance``) holds the run's resolved
config and TRL log history; ``weights_tag`` changes whenever the weight files do, so caches keyed by
it never serve a model retrained in place. Read by training (Stage 2 loads a trained verbalizer),
the reproduce document (reward curves) and LangPTune.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

RUN_FILE = "verbalrec_run.json"


def run_record(path: str | Path) -> dict:
    """The whole ``verbalrec_run.json`` of a model directory ({} for a model made elsewhere)."""
    try:
        return json.loads((Path(path) / RUN_FILE).read_text())
    except (OSError, ValueError):
        return {}


def run_config(path: str | Path) -> dict:
    """The config a verbalrec run saved beside its model ({} for a model made elsewhere)."""
    return run_record(path).get("config", {})


def weights_tag(path: Path) -> str:
    """Cache version of a model directory: changes whenever its weight files do."""
    stats = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in path.iterdir()
                   if p.suffix in (".safetensors", ".bin", ".gguf"))
    return hashlib.sha256(repr((path.resolve().name, stats)).encode()).hexdigest()[:12]
