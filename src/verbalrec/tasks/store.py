"""Task folders: ``tasks.parquet`` (TASK_SCHEMA), ``catalog.parquet`` and ``manifest.json``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..atomic import write_json, write_parquet
from ..errors import InputError
from .leakage import check_leakage
from .schema import TaskSet, read_task_table


def save_tasks(tasks: TaskSet, directory: str | Path) -> Path:
    from .writer import write_tasks_file

    directory = Path(directory)
    write_tasks_file(directory / "tasks.parquet", [tasks.table])
    write_side_files(directory, tasks.catalog, tasks.meta, len(tasks))
    return directory


def write_side_files(directory: str | Path, catalog: pd.DataFrame, meta: dict, n_tasks: int,
                     n_events: int | None = None) -> dict:
    """catalog.parquet and manifest.json beside tasks.parquet; returns the manifest."""
    directory = Path(directory)
    cat = catalog.copy()
    cat["year"] = cat["year"].astype("Int64")
    write_parquet(directory / "catalog.parquet", cat)
    manifest = {**meta, "leakage_check": "passed", "n_tasks": n_tasks}
    write_json(directory / "manifest.json", manifest)
    return {**manifest, "events": n_events}


def load_tasks(path: str | Path, catalog: str | Path | None = None) -> TaskSet:
    """Read a task folder, or a bare task Parquet file (built elsewhere) with an optional catalog.

    The leakage check runs on every read, so a file built elsewhere is held to the same rules.
    """
    path = Path(path)
    file = path / "tasks.parquet" if path.is_dir() else path
    table = read_task_table(file)
    check_leakage(table, file=file)
    meta = {}
    if (file.parent / "manifest.json").exists():
        meta = json.loads((file.parent / "manifest.json").read_text())
    cat_path = Path(catalog) if catalog else file.parent / "catalog.parquet"
    if cat_path.exists():
        cat = pd.read_parquet(cat_path)
        for col in ("genres", "tags"):
            if col in cat.columns:
                cat[col] = [list(v) if v is not None else [] for v in cat[col]]
    elif catalog:
        raise InputError("catalog not found", file=cat_path, fix="check the --catalog path")
    else:
        from ..logs.schema import catalog_from_events
        ids = pd.unique(pd.concat([pd.Series(table["target_item"].to_pylist()),
                                   pd.Series([c for cs in table["candidates"].to_pylist() for c in cs])]))
        cat = catalog_from_events(pd.DataFrame({"item_id": ids}))
    return TaskSet(table, cat, meta)
