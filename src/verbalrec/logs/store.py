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
from .schema import REQUIRED_EVENT_COLUMNS, EventLog, unix_seconds

MANIFEST = "log.json"
_FILES = ("events.parquet", "catalog.parquet", MANIFEST)
_FIX = "recreate it with `verbalrec data convert` or `verbalrec data synth`"


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
    """Read a folder ``save_log`` wrote; a damaged one is named, and its times are re-checked."""
    directory = Path(directory)
    info = read_manifest(directory)
    events, catalog = (read_part(directory / name) for name in ("events.parquet", "catalog.parquet"))
    for frame, path, columns in ((events, "events.parquet", REQUIRED_EVENT_COLUMNS),
                                 (catalog, "catalog.parquet", ["item_id"])):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InputError(f"missing column(s) {missing}", file=directory / path, field=missing[0], fix=_FIX)
    events["timestamp"] = unix_seconds(events["timestamp"], file=directory / "events.parquet", row_offset=1)
    for col in ("genres", "tags"):
        if col in catalog.columns:
            catalog[col] = [list(v) if v is not None else [] for v in catalog[col]]
    return EventLog(events, catalog, name=info.get("name", directory.name), meta=info.get("meta", {}))



def read_manifest(directory: Path) -> dict:
    """``log.json`` of a saved log; a missing or broken one is named."""
    manifest = Path(directory) / MANIFEST
    if not manifest.exists():
        raise InputError("not a saved verbalrec log (no log.json)", file=directory, fix=_FIX)
    try:
        info = json.loads(manifest.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"not valid JSON ({err})", file=manifest, fix=_FIX) from None
    if not isinstance(info, dict):
        raise InputError("not a JSON object", file=manifest, fix=_FIX)
    return info


def read_part(path: Path) -> pd.DataFrame:
    """One Parquet file of a saved log; a missing or unreadable one is named."""
    import pyarrow.lib
    if not path.exists():
        raise InputError("file missing from the saved log", file=path, fix=_FIX)
    try:
        return pd.read_parquet(path)
    except (pyarrow.lib.ArrowException, OSError) as err:
        raise InputError(f"not a readable Parquet file ({err})", file=path, fix=_FIX) from None
