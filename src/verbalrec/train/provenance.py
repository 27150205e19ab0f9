"""What a run saves beside its model: resolved config, data hash, package versions."""

from __future__ import annotations

import dataclasses
import platform
from importlib import metadata
from pathlib import Path

from ..atomic import write_json
from . import distributed

PACKAGES = ("verbalrec", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "tokenizers")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def save_provenance(directory: str | Path, config, data_hash: str, extra: dict | None = None) -> None:
    """``verbalrec_run.json``, written once by the main process (every process returns after it is there)."""
    doc = {"config": dataclasses.asdict(config), "data_hash": data_hash, "versions": versions(),
           "num_processes": distributed.world_size(), **(extra or {})}
    distributed.on_main(write_json, Path(directory) / "verbalrec_run.json", doc)
