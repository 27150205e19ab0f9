"""Save and load a validated EventLog as a folder: events.parquet, catalog.parquet, log.json."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from ..atomic import current_umask, write_json, write_parquet
from ..errors import InputError
from .schema import EventLog

MANIFEST = "log.json"


_FILES = ("events.parquet", "catalog.parquet", MANIFEST)


def save_log(log: EventLog, directory: str | Path) -> Path:
    """Write the log folder as a whole: everything is staged in a sibling folder first, so a
    failure leaves ``directory`` as it was. A new folder appears by one rename; into an existing
    one the old ``log.json`` goes first and the new one comes last, so a folder with
    ``log.json`` always holds the data it describes (other files in it are kept)."""
    directory = Path(directory)
    manifest = {"name": log.name, "meta": log.meta, "describe": log.describe()}  # fails before any write
    cat = log.catalog.copy()
    cat["year"] = cat["year"].astype("Int64")
    directory.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
    try:
        write_parquet(stage / "events.parquet", log.events)
        write_parquet(stage / "catalog.parquet", cat)
        write_json(stage / MANIFEST, manifest)
        if not directory.exists():
            os.chmod(stage, 0o777 & ~current_umask())  # mkdtemp makes it 0700
            os.replace(stage, directory)
            return directory
        (directory / MANIFEST).unlink(missing_ok=True)
        for name in _FILES:  # the manifest last
            os.replace(stage / name, directory / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return directory


def load_saved_log(directory: str | Path) -> EventLog:
    directory = Path(directory)
    manifest = directory / MANIFEST
    if not manifest.exists():
        raise InputError("not a saved verbalrec log (no log.json)", file=directory,
                         fix="create it with `verbalrec data convert` or `verbalrec data synth`")
    info = json.loads(manifest.read_text())
    events = pd.read_parquet(directory / "events.parquet")
    catalog = pd.read_parquet(directory / "catalog.parquet")
    for col in ("genres", "tags"):
        catalog[col] = [list(v) if v is not None else [] for v in catalog[col]]
    return EventLog(events, catalog, name=info.get("name", directory.name), meta=info.get("meta", {}))
