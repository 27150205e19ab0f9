"""Where a build's events come from, and the input checks that every engine shares.

A log is an ``EventLog`` in memory, a Parquet file, a saved log folder (``events.parquet`` +
``catalog.parquet``), or a folder of Parquet files, hive-partitioned (``day=2024-01-01/``) or not.
Files are read in sorted path order; events with equal (user, timestamp) keep that order (file,
then row). Only the event columns are read. Schemas are checked here from the file footers; the
row checks are computed by each engine and reported here, so both engines say the same line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError
from ..logs.schema import EVENT_COLUMNS, REQUIRED_EVENT_COLUMNS

STRING_COLUMNS = ("user_id", "item_id", "engagement", "device")
FLOAT_COLUMNS = ("duration_min", "rating")


@dataclass
class LogFiles:
    """Parquet files of one log, the columns they hold, and the catalog if the log has one."""

    files: list[Path]
    name: str
    columns: list[str]                   # event columns present (the rest are filled)
    rows: list[int] = field(default_factory=list)
    catalog: "object | None" = None      # pandas catalog frame, or None: items from the events
    hive: list[dict] = field(default_factory=list)  # per file: partition values from its path


def _hive_values(path: Path, root: Path) -> dict:
    parts = path.relative_to(root).parts[:-1]
    return dict(p.split("=", 1) for p in parts if "=" in p)


def _parquet_files(root: Path) -> list[Path]:
    files = sorted(p for p in root.rglob("*.parquet") if not any(s.startswith((".", "_")) for s in p.relative_to(root).parts))
    for d in sorted(p for p in root.rglob("*") if p.is_dir() and "=" in p.name):
        if not any(f.is_relative_to(d) for f in files):
            raise InputError("partition holds no Parquet file", file=d, fix="remove the empty partition folder")
    if not files:
        raise InputError("no Parquet files in folder", file=root, fix="point at a folder of .parquet event files")
    return files


def resolve(source) -> LogFiles:
    """A path (file, saved log, folder of Parquet files) -> its files, after the schema checks."""
    path = Path(source)
    catalog = None
    if path.is_dir() and (path / "log.json").exists():
        from ..logs.store import read_manifest, read_part
        name = read_manifest(path).get("name", path.name)  # a broken log.json or catalog is named
        catalog = read_part(path / "catalog.parquet")
        files, root = [path / "events.parquet"], path
    elif path.is_dir():
        files, root, name = _parquet_files(path), path, path.name
    elif path.is_file() and path.suffix == ".parquet":
        files, root, name = [path], path.parent, path.stem
    else:
        raise InputError("not a Parquet log", file=path,
                         fix="give a .parquet file or a folder of them (other formats: verbalrec data convert)")
    hive = [_hive_values(f, root) for f in files]
    columns, rows = check_schemas(files, hive)
    return LogFiles(files, name, columns, rows, catalog, hive)


def _kind(typ: pa.DataType) -> str:
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return "string"
    if pa.types.is_integer(typ):
        return "int"
    if pa.types.is_floating(typ):
        return "float"
    if pa.types.is_null(typ):
        return "null"
    return str(typ)


_ALLOWED = {"user_id": ("string", "int"), "item_id": ("string", "int"), "timestamp": ("int",),
            "engagement": ("string", "null"), "device": ("string", "null"),
            "duration_min": ("float", "int", "null"), "rating": ("float", "int", "null")}
_TYPE_FIX = {"timestamp": "store Unix seconds as integers (verbalrec data convert --timestamp-unit converts)",
             "user_id": "store ids as strings or integers", "item_id": "store ids as strings or integers",
             "engagement": "store engagement types as strings", "device": "store devices as strings",
             "duration_min": "store minutes as numbers", "rating": "store ratings as numbers"}


def check_schemas(files: list[Path], hive: list[dict]) -> tuple[list[str], list[int]]:
    """Every file has the required columns with allowed types and at least one row."""
    present, rows, kinds = None, [], {}
    for f, part in zip(files, hive):
        try:
            meta = pq.read_metadata(f)
        except (pa.ArrowInvalid, OSError) as err:
            raise InputError(f"not a readable Parquet file ({err})", file=f, fix="re-export it") from None
        schema = meta.schema.to_arrow_schema()
        names = set(schema.names) | set(part)
        missing = [c for c in REQUIRED_EVENT_COLUMNS if c not in names]
        if missing:
            raise InputError(f"missing column(s) {missing}; found {sorted(names)}", file=f, field=missing[0],
                             fix="rename the columns (verbalrec data convert --map user_id=COL,...)")
        for c in EVENT_COLUMNS:
            if c in schema.names and _kind(schema.field(c).type) not in _ALLOWED[c]:
                raise InputError(f"column has type {schema.field(c).type}", file=f, field=c, fix=_TYPE_FIX[c])
            if c in schema.names and _kind(schema.field(c).type) != "null":
                kind = kinds.setdefault(c, _kind(schema.field(c).type))
                if kind != _kind(schema.field(c).type):
                    raise InputError(f"column has type {schema.field(c).type}, {kind} in the first file", file=f,
                                     field=c, fix="give the column one type in every file")
        if meta.num_rows == 0:
            raise InputError("no events", file=f, fix="remove the empty file or partition")
        cols = [c for c in EVENT_COLUMNS if c in names]
        if present is not None and cols != present:
            raise InputError(f"columns {cols} differ from the first file's {present}", file=f,
                             fix="give every file the same columns")
        present = cols
        rows.append(meta.num_rows)
    return present, rows


# ---------------------------------------------------------------- row checks (computed by the engines)

#: (name, field, problem, fix), in the order they are reported.
ROW_CHECKS = (
    ("user_id", "user_id", "empty value", "every event needs a user_id"),
    ("item_id", "item_id", "empty value", "every event needs an item_id"),
    ("timestamp", "timestamp", "timestamp is missing", "every event needs a timestamp"),
    ("timestamp_range", "timestamp", "timestamp {value} is outside the allowed range 1970-01-01..2100-01-01",
     "store Unix seconds (verbalrec data convert --timestamp-unit ms converts milliseconds)"),
    ("duration", "duration_min", "negative duration", "durations are minutes >= 0"),
    ("unknown", "item_id", "item id {value!r} is not in the catalog", "add the items to the catalog"),
    ("duplicate", "timestamp", "duplicate event (same user, item, timestamp, engagement)",
     "remove duplicates (verbalrec data convert --dedupe)"),
)


@dataclass
class RowProblem:
    check: str
    ordinal: int   # global row number: files in order, rows in order
    count: int
    value: str = ""


def raise_row_problem(problems: list[RowProblem], files: list[Path], rows: list[int], name: str) -> None:
    """Raise the first problem (in ROW_CHECKS order) at its first row; no-op when none."""
    by = {p.check: p for p in problems if p.count}
    for check, fld, problem, fix in ROW_CHECKS:
        if check in by:
            p = by[check]
            file, row = locate(p.ordinal, files, rows, name)
            n = p.count
            raise InputError(f"{problem.format(value=p.value)} ({n} row{'s' if n > 1 else ''})",
                             file=file, row=row, field=fld, fix=fix)


def locate(ordinal: int, files: list[Path], rows: list[int], name: str) -> tuple[object, int]:
    """Global row number -> (file, 1-based row in that file)."""
    if not files:
        return name, ordinal + 1
    start = 0
    for f, n in zip(files, rows):
        if ordinal < start + n:
            return f, ordinal - start + 1
        start += n
    return files[-1], ordinal - start + 1


def normalize_engagement(value: str | None) -> str:
    """As logs.schema.validate_events: missing -> play, stripped, lower case, spaces -> '_'."""
    return "play" if value is None else value.strip().lower().replace(" ", "_")


def is_parquet_log(source) -> bool:
    """A .parquet file, a saved log folder, or a folder holding .parquet files (not ml-100k etc.)."""
    path = Path(str(source))
    if path.is_file():
        return path.suffix == ".parquet"
    if path.is_dir():
        if (path / "log.json").exists():
            return True
        return not list(path.glob("*.inter")) and not (path / "u.data").exists() and any(path.rglob("*.parquet"))
    return False
