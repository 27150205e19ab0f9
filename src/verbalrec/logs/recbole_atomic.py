"""RecBole atomic files: ``<name>.inter`` / ``.item`` / ``.user``, tab-separated, with
``name:type`` headers (types token, token_seq, float, float_seq)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import InputError
from .readers import read_delimited
from .schema import EventLog, catalog_from_events, validate_catalog, validate_events
from .movielens import rating_to_engagement

_TYPES = {"token", "token_seq", "float", "float_seq"}
# Common RecBole field names -> our schema.
_EVENT_FIELDS = {"user_id": "user_id", "item_id": "item_id", "timestamp": "timestamp", "rating": "rating"}
_ITEM_FIELDS = {"item_id": "item_id", "movie_title": "title", "title": "title", "name": "title",
                "release_year": "year", "year": "year", "class": "genres", "genre": "genres",
                "genres": "genres", "categories": "genres", "tags": "tags"}


def read_atomic(path: Path, encoding: str = "utf-8") -> pd.DataFrame:
    """Read one atomic file; columns are renamed to their bare names (type suffix checked)."""
    df = read_delimited(path, "\t", encoding=encoding)
    names = []
    for col in df.columns:
        name, _, typ = str(col).partition(":")
        if typ not in _TYPES:
            raise InputError(f"header field '{col}' is not 'name:type' with type in {sorted(_TYPES)}",
                             file=path, row=1, field=str(col), fix="write headers like user_id:token")
        names.append(name)
    df.columns = names
    return df


def load_recbole(directory: Path, name: str | None = None, encoding: str = "utf-8") -> EventLog:
    """Load ``directory/<name>.inter`` (+ ``.item`` if present); name defaults to the folder's."""
    directory = Path(directory)
    name = name or directory.name
    inter_path = directory / f"{name}.inter"
    if not inter_path.exists():
        raise InputError("no .inter file", file=inter_path,
                         fix="point at a RecBole dataset folder holding <name>.inter")
    inter = read_atomic(inter_path, encoding).rename(columns=_EVENT_FIELDS)
    if "rating" in inter.columns:
        inter["engagement"] = rating_to_engagement(pd.to_numeric(inter["rating"], errors="coerce"))
    item_path = directory / f"{name}.item"
    catalog = None
    if item_path.exists():
        items = read_atomic(item_path, encoding)
        items = items.rename(columns={k: v for k, v in _ITEM_FIELDS.items() if k in items.columns})
        for col in ("genres", "tags"):
            if col in items.columns:  # token_seq is space-separated
                items[col] = [str(v).split() if isinstance(v, str) else [] for v in items[col]]
        if "year" in items.columns:  # a token in RecBole: 'unknown' is legal there, missing here
            items["year"] = pd.to_numeric(items["year"], errors="coerce")
        catalog = validate_catalog(items.loc[:, ~items.columns.duplicated()], file=item_path)
    events = validate_events(inter, file=inter_path, catalog=catalog)
    if catalog is None:
        catalog = catalog_from_events(events)
    return EventLog(events, catalog, name=name, meta={"source": str(directory), "format": "recbole"})
