"""Save and load a validated EventLog as a folder: events.parquet, catalog.parquet, log.json."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..atomic import write_json, write_parquet
from ..errors import InputError
from .schema import EventLog


def save_log(log: EventLog, directory: str | Path) -> Path:
    directory = Path(directory)
    write_parquet(directory / "events.parquet", log.events)
    cat = log.catalog.copy()
    cat["year"] = cat["year"].astype("Int64")
    write_parquet(directory / "catalog.parquet", cat)
    write_json(directory / "log.json", {"name": log.name, "meta": log.meta, "describe": log.describe()})
    return directory


def load_saved_log(directory: str | Path) -> EventLog:
    directory = Path(directory)
    manifest = directory / "log.json"
    if not manifest.exists():
        raise InputError("not a saved verbalrec log (no log.json)", file=directory,
                         fix="create it with `verbalrec data convert` or `verbalrec data synth`")
    info = json.loads(manifest.read_text())
    events = pd.read_parquet(directory / "events.parquet")
    catalog = pd.read_parquet(directory / "catalog.parquet")
    for col in ("genres", "tags"):
        catalog[col] = [list(v) if v is not None else [] for v in catalog[col]]
    return EventLog(events, catalog, name=info.get("name", directory.name), meta=info.get("meta", {}))
