"""Logs: the event and catalog schema, loaders for every supported format, synthetic logs."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .movielens import load_ml1m_raw, load_ml100k_raw, recbole_ml100k_dir
from .recbole_atomic import load_recbole
from .schema import ENGAGEMENTS, NOISE_ENGAGEMENTS, EventLog, engagement_display
from .store import load_saved_log, save_log
from .tabular import TabularSpec, load_tabular

__all__ = ["ENGAGEMENTS", "NOISE_ENGAGEMENTS", "EventLog", "TabularSpec", "engagement_display",
           "load_log", "load_saved_log", "load_tabular", "save_log"]


def load_log(source: str | Path, spec: TabularSpec | None = None) -> EventLog:
    """Load logs from a name (``ml-100k``), a folder (saved, RecBole atomic, MovieLens raw) or,
    with ``spec``, a user's own CSV / Parquet / JSONL files."""
    if spec is not None:
        return load_tabular(spec)
    if str(source) == "ml-100k" and not Path(source).exists():
        return load_recbole(recbole_ml100k_dir(), "ml-100k")
    path = Path(source)
    if path.is_dir():
        if (path / "log.json").exists():
            return load_saved_log(path)
        if list(path.glob("*.inter")):
            return load_recbole(path, next(path.glob("*.inter")).stem)
        if (path / "u.data").exists():
            return load_ml100k_raw(path)
        if (path / "ratings.dat").exists():
            return load_ml1m_raw(path)
        raise InputError("no known log format in folder", file=path,
                         fix="give a saved log, a RecBole folder (*.inter), ml-100k (u.data) or ml-1m (ratings.dat)")
    if path.is_file():
        return load_tabular(TabularSpec(events=str(path)))
    raise InputError("no such file, folder or dataset name", file=source,
                     fix="use 'ml-100k', a folder, or a .csv/.parquet/.jsonl file")
