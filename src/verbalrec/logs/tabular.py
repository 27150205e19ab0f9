"""Generic CSV / TSV / Parquet / JSONL logs with a column mapping and an explicit time unit."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, shown
from .readers import read_delimited, read_text
from .schema import (TS_MAX, TS_MIN, UNIT_SECONDS, EventLog, catalog_from_events, unix_seconds, validate_catalog,
                     validate_events)

TIMESTAMP_UNITS = ("s", "ms", "us", "ns", "iso")


@dataclass
class TabularSpec:
    """How to read a user's own log files. Every field can come from the CLI or a YAML config."""

    events: str = field(metadata={"help": "path of the events file (.csv, .tsv, .parquet, .jsonl)"})
    catalog: str | None = field(default=None, metadata={"help": "path of the item catalog file, optional"})
    map: dict[str, str] = field(default_factory=dict, metadata={
        "help": "our event column -> your column, e.g. {user_id: uid, timestamp: ts}"})
    catalog_map: dict[str, str] = field(default_factory=dict, metadata={
        "help": "our catalog column -> your column, e.g. {title: name, genres: categories}"})
    timestamp_unit: str = field(default="s", metadata={
        "help": f"unit of the timestamp column: one of {TIMESTAMP_UNITS} ('iso' parses date strings)"})
    timestamp_format: str | None = field(default=None, metadata={
        "help": "strftime format for date strings, e.g. '%Y-%m-%d %H:%M' (implies parsing strings)"})
    encoding: str = field(default="utf-8", metadata={"help": "text encoding of CSV/TSV/JSONL files"})
    dedupe: bool = field(default=False, metadata={"help": "drop exact duplicate events instead of failing"})
    drop_unknown_items: bool = field(default=False, metadata={"help": "drop events whose item is not in the catalog"})

    def __post_init__(self):
        if self.timestamp_unit not in TIMESTAMP_UNITS:
            raise InputError(f"timestamp_unit '{self.timestamp_unit}' is unknown", field="timestamp_unit",
                             fix=f"use one of {TIMESTAMP_UNITS}")


def read_table(path: Path, encoding: str = "utf-8") -> pd.DataFrame:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        if not path.exists():
            raise InputError("file not found", file=path, fix="check the path")
        import pyarrow.lib
        try:
            return pd.read_parquet(path)
        except (pyarrow.lib.ArrowInvalid, OSError) as err:
            raise InputError(f"not a readable Parquet file ({err})", file=path, fix="re-export it") from None
    if suffix in (".jsonl", ".ndjson"):
        return read_jsonl(path, encoding)
    if suffix in (".csv", ".tsv", ".txt"):
        return read_delimited(path, "\t" if suffix == ".tsv" else ",", encoding=encoding)
    raise _unknown_type(path, suffix)


def read_jsonl(path: Path, encoding: str = "utf-8") -> pd.DataFrame:
    """One JSON object per line (blank lines skipped); a bad line is named by its number."""
    records = []
    for number, line in enumerate(read_text(path, encoding).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as err:  # RecursionError: nested too deep
            detail = f"{err.msg}, column {err.colno}" if isinstance(err, json.JSONDecodeError) else type(err).__name__
            raise InputError(f"not valid JSON ({detail})", file=path, row=number,
                             fix="one JSON object per line") from None
        if not isinstance(record, dict):
            raise InputError(f"a JSON {type(record).__name__}, not an object", file=path, row=number,
                             fix="one JSON object per line")
        records.append(record)
    return pd.DataFrame.from_records(records)


# files of the folder formats, given where their folder is expected
_FOLDER_FILES = {".inter": "a RecBole atomic file", ".item": "a RecBole atomic file",
                 ".user": "a RecBole atomic file", "u.data": "a MovieLens-100k file",
                 "u.item": "a MovieLens-100k file", "ratings.dat": "a MovieLens-1M file",
                 "movies.dat": "a MovieLens-1M file"}


def _unknown_type(path: Path, suffix: str) -> InputError:
    kind = _FOLDER_FILES.get(path.name) or _FOLDER_FILES.get(suffix)
    if kind:
        return InputError(f"this is {kind}; verbalrec reads that format by folder", file=path,
                          fix=f"pass its folder {path.parent}")
    return InputError(f"unknown file type '{suffix}'", file=path, fix="use .csv, .tsv, .parquet or .jsonl")


def _rename(df: pd.DataFrame, mapping: dict[str, str], path: Path) -> pd.DataFrame:
    absent = {ours: theirs for ours, theirs in mapping.items() if theirs not in df.columns}
    if absent:
        ours, theirs = next(iter(absent.items()))
        raise InputError(f"mapped column '{theirs}' (for {ours}) not found; columns are {list(df.columns)}",
                         file=path, field=theirs, fix="fix the column map")
    return df.rename(columns={theirs: ours for ours, theirs in mapping.items()})


def row_offset(path: Path) -> int:
    """File row of frame position 0: 2 below a header line (CSV/TSV), else 1 (JSONL line, Parquet row)."""
    return 2 if Path(path).suffix.lower() in (".csv", ".tsv", ".txt") else 1


def to_unix_seconds(values: pd.Series, unit: str, fmt: str | None, path: Path) -> pd.Series:
    """The timestamp column in ``unit`` (or date strings) -> validated int64 Unix seconds."""
    offset = row_offset(path)
    if not (fmt or unit == "iso"):
        return unix_seconds(values, unit, file=path, row_offset=offset, unit_flag=True)
    values = values.reset_index(drop=True)
    # "ISO8601" names the format, so pandas neither guesses one nor warns that it could not
    try:
        parsed = pd.to_datetime(values.astype("string"), format=fmt or "ISO8601", errors="coerce", utc=True)
    except ValueError as err:  # the format itself is bad, e.g. '%s' or '%Q'
        raise InputError(f"timestamp format '{fmt}' is not valid ({err})", field="timestamp_format",
                         fix="write it with strftime codes, e.g. '%Y-%m-%d %H:%M'") from None
    bad = parsed.isna()
    if bad.any():
        pos = int(bad.to_numpy().nonzero()[0][0])
        what = f"with --timestamp-format '{fmt}'" if fmt else "as an ISO 8601 date"
        raise InputError(f"cannot parse timestamp '{shown(values.iloc[pos])}' {what}", file=path, row=pos + offset,
                         field="timestamp", fix="set --timestamp-format to the file's date format, e.g. '%d %B %Y'")
    # in the parsed unit (pandas picks us or ns): subtracting a ns epoch would overflow after 2262
    seconds = parsed.astype("int64") // UNIT_SECONDS[parsed.dt.unit]
    outside = ~seconds.between(TS_MIN, TS_MAX)
    if outside.any():
        pos, n = int(np.flatnonzero(outside.to_numpy())[0]), int(outside.sum())
        raise InputError(f"timestamp '{shown(values.iloc[pos])}' is outside the allowed range "
                         f"1970-01-01..2100-01-01 ({n} row{'s' if n > 1 else ''})", file=path, row=pos + offset,
                         field="timestamp", fix="check the column, or drop the rows with bad times")
    return seconds


def load_tabular(spec: TabularSpec) -> EventLog:
    events_path = Path(spec.events)
    catalog = None
    if spec.catalog:
        cat_path = Path(spec.catalog)
        catalog = validate_catalog(_rename(read_table(cat_path, spec.encoding), spec.catalog_map, cat_path),
                                   file=cat_path, row_offset=row_offset(cat_path))
    df = _rename(read_table(events_path, spec.encoding), spec.map, events_path)
    if "timestamp" in df.columns:
        df["timestamp"] = to_unix_seconds(df["timestamp"], spec.timestamp_unit, spec.timestamp_format, events_path)
    events = validate_events(df, file=events_path, catalog=catalog, row_offset=row_offset(events_path),
                             on_duplicate="drop" if spec.dedupe else "error",
                             on_unknown_item="drop" if spec.drop_unknown_items else "error")
    if catalog is None:
        catalog = catalog_from_events(events)
    return EventLog(events, catalog, name=events_path.stem, meta={"source": str(events_path), "format": "tabular"})
