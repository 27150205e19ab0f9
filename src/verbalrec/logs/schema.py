"""The one schema for interaction events and the item catalog, and its validation.

Events (one row per interaction):

=============  ========  ============================================================
column         type      meaning
=============  ========  ============================================================
user_id        str       who
timestamp      int64     when, Unix seconds UTC
item_id        str       what (a key of the catalog)
engagement     str       play, thumb_up, thumb_down, add_to_list, trailer, preview, ...
duration_min   float     viewing duration in minutes (NaN when unknown)
device         str       tv, mobile, ... (None when unknown)
rating         float     explicit rating (NaN when unknown)
=============  ========  ============================================================

Catalog (one row per item): ``item_id`` (str), ``title`` (str), ``year`` (Int64, nullable),
``genres`` and ``tags`` (lists of str), ``text`` (free description), ``series`` (the show an
episode belongs to, None for films).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError, shown

log = logging.getLogger(__name__)
EVENT_COLUMNS = ["user_id", "timestamp", "item_id", "engagement", "duration_min", "device", "rating"]
REQUIRED_EVENT_COLUMNS = ["user_id", "timestamp", "item_id"]
CATALOG_COLUMNS = ["item_id", "title", "year", "genres", "tags", "text", "series"]

#: Engagement types with a display name; other strings are allowed and shown title-cased.
ENGAGEMENTS = {
    "play": "Play",
    "thumb_up": "Thumb Up",
    "thumb_down": "Thumb Down",
    "add_to_list": "Add to List",
    "trailer": "Trailer",
    "preview": "Preview",
}
#: Engagements that are exposure noise, never a next-item target.
NOISE_ENGAGEMENTS = frozenset({"trailer", "preview"})
#: Allowed event times, Unix seconds UTC: 1970-01-01 to 2100-01-01, both included.
TS_MIN, TS_MAX = 0, 4_102_444_800
#: Longest text kept, in characters. Catalog text beyond it is cut (a warning says how many
#: items); an id, engagement or device beyond ``id`` is an error (cutting could merge two).
TEXT_LIMITS = {"title": 300, "text": 2000, "series": 300, "list_item": 100, "list_items": 30, "id": 256}


def engagement_display(engagement: str) -> str:
    return ENGAGEMENTS.get(engagement) or engagement.replace("_", " ").title()


@dataclass
class EventLog:
    """Events and catalog that passed validation; ``name`` says where they came from."""

    events: pd.DataFrame
    catalog: pd.DataFrame
    name: str = "log"
    meta: dict = field(default_factory=dict)

    def describe(self) -> dict:
        ev = self.events
        per_user = ev.groupby("user_id", sort=False).size()
        span = (int(ev["timestamp"].min()), int(ev["timestamp"].max())) if len(ev) else (0, 0)
        return {
            "name": self.name,
            "events": int(len(ev)),
            "users": int(ev["user_id"].nunique()),
            "items_in_events": int(ev["item_id"].nunique()),
            "catalog_items": int(len(self.catalog)),
            "events_per_user_median": float(per_user.median()) if len(per_user) else 0.0,
            "first_event": pd.Timestamp(span[0], unit="s").isoformat(),
            "last_event": pd.Timestamp(span[1], unit="s").isoformat(),
            "engagements": {str(k): int(v) for k, v in ev["engagement"].value_counts().items()},
        }


UNIT_SECONDS = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}
_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
_RANGE = "1970-01-01..2100-01-01"


def _when(seconds: float) -> str:
    """Roughly when an out-of-range time is: 'before 1970' or 'year ~55840'."""
    if seconds < TS_MIN:
        return "before 1970"
    return f"year ~{1970 + seconds / 31_556_952:.0f}" if seconds < 1e15 else "beyond year 30 million"


def _unit_meant(value: float, unit: str) -> str | None:
    """The coarsest unit finer than ``unit`` that puts ``value`` (given in ``unit``) in range, if any."""
    units = list(UNIT_SECONDS)
    for other in units[units.index(unit) + 1:]:
        if TS_MIN <= value / UNIT_SECONDS[other] <= TS_MAX:
            return other
    return None


def unix_seconds(values: pd.Series, unit: str = "s", *, file: object, row_offset: int = 2,
                 unit_flag: bool = False) -> pd.Series:
    """Numeric timestamps in ``unit`` -> int64 Unix seconds, each finite and in [TS_MIN, TS_MAX].

    The one timestamp check every loader goes through. A value that would fit the range in a
    finer unit (milliseconds read as seconds) names that unit in the fix; ``unit_flag``: the
    user can set ``--timestamp-unit``, so the fix may say so."""
    values = values.reset_index(drop=True)
    num = pd.to_numeric(values, errors="coerce")
    if num.dtype == object:  # Python ints beyond int64
        num = num.astype("float64")
    where = {"file": file, "field": "timestamp", "row_offset": row_offset}

    def fail(bad, problem, fix):
        first = values[int(np.flatnonzero(bad.to_numpy())[0])] if bad.any() else None
        _fail_on_first(bad, problem.format(shown(first)), fix=fix, **where)

    fail(num.isna(), "timestamp '{}' is empty or not a number",
         "set --timestamp-unit iso or --timestamp-format for date strings" if unit_flag else "give Unix seconds")
    div = UNIT_SECONDS[unit]
    if num.dtype.kind in "iu":
        seconds = num // div
    else:
        fail(~np.isfinite(num), "timestamp '{}' is not finite", f"give {_UNIT_NAMES[unit]} since 1970-01-01 UTC")
        seconds = np.floor(num / div)
    outside = (seconds < TS_MIN) | (seconds > TS_MAX)
    if outside.any():
        pos = int(np.flatnonzero(outside.to_numpy())[0])
        meant = _unit_meant(float(num[pos]), unit)
        fix = "check the column, or drop the rows with bad times"
        if meant:
            fix = f"the values look like {_UNIT_NAMES[meant]}: " + (
                f"set --timestamp-unit {meant}" if unit_flag else f"divide them by {UNIT_SECONDS[meant] // div}")
        fail(outside, f"timestamp '{{}}' read as {_UNIT_NAMES[unit]} is {_when(float(seconds[pos]))}, "
             f"outside the allowed range {_RANGE}", fix)
    return seconds.astype("int64")


def _fail_on_first(bad: pd.Series, problem: str, *, file, field: str, fix: str, row_offset: int):
    """Raise an InputError naming the first row where ``bad`` is True."""
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        n = int(bad.sum())
        raise InputError(f"{problem} ({n} row{'s' if n > 1 else ''})", file=file,
                         row=pos + row_offset, field=field, fix=fix)


def validate_events(df: pd.DataFrame, *, file: object = "events", row_offset: int = 2,
                    catalog: pd.DataFrame | None = None, on_duplicate: str = "error",
                    on_unknown_item: str = "error", unit_flag: bool = False) -> pd.DataFrame:
    """Check and normalise an events frame to the schema; rows are sorted by (user, time).

    ``row_offset`` converts a 0-based frame position into the file's row number (2 for a file
    with one header line). ``on_duplicate`` / ``on_unknown_item``: "error" or "drop".
    ``unit_flag``: the user can set ``--timestamp-unit`` (tabular files), so a fix may name it.
    """
    if len(df) == 0:
        raise InputError("no events", file=file, fix="point at a file with at least one interaction")
    missing = [c for c in REQUIRED_EVENT_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {missing}; found {list(df.columns)}", file=file,
                         field=missing[0], fix="map your columns with --map user_id=COL,...")
    df = df.reset_index(drop=True)
    out = pd.DataFrame({"user_id": df["user_id"], "item_id": df["item_id"]})
    for col in ("user_id", "item_id"):
        _fail_on_first(out[col].isna() | (out[col].astype(str).str.strip() == ""),
                       "empty value", file=file, field=col, row_offset=row_offset,
                       fix=f"every event needs a {col}")
        out[col] = out[col].astype(str).str.strip()
        _check_length(out[col], col, file, row_offset)
    out["timestamp"] = unix_seconds(df["timestamp"], "s", file=file, row_offset=row_offset,
                                    unit_flag=unit_flag)
    eng = df["engagement"] if "engagement" in df.columns else pd.Series("play", index=df.index)
    out["engagement"] = eng.fillna("play").astype(str).str.strip().str.lower().str.replace(" ", "_")
    for col in ("duration_min", "rating"):
        if col in df.columns:
            num = pd.to_numeric(df[col], errors="coerce")
            _fail_on_first(num.isna() & df[col].notna() & (df[col].astype(str).str.strip() != ""),
                           "not a number", file=file, field=col, row_offset=row_offset,
                           fix=f"{col} must be numeric or empty")
            out[col] = num.astype("float64")
        else:
            out[col] = np.nan
    _fail_on_first(out["duration_min"] < 0, "negative duration", file=file, field="duration_min",
                   row_offset=row_offset, fix="durations are minutes >= 0")
    out["device"] = df["device"].astype(object).where(df["device"].notna(), None) if "device" in df.columns else None
    for col in ("engagement", "device"):
        _check_length(out[col], col, file, row_offset)

    dup = out.duplicated(["user_id", "item_id", "timestamp", "engagement"])
    if dup.any():
        if on_duplicate == "drop":
            out = out[~dup]
        else:
            _fail_on_first(dup, "duplicate event (same user, item, timestamp, engagement)",
                           file=file, field="timestamp", row_offset=row_offset,
                           fix="remove duplicates or pass --dedupe")
    if catalog is not None:
        unknown = ~out["item_id"].isin(catalog["item_id"])
        if unknown.any():
            if on_unknown_item == "drop":
                out = out[~unknown]
            else:
                first = out.loc[unknown, "item_id"].iloc[0]
                _fail_on_first(unknown, f"item id '{first}' is not in the catalog", file=file,
                               field="item_id", row_offset=row_offset,
                               fix="add the items to the catalog or pass --drop-unknown-items")
    out = out.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)
    return out[EVENT_COLUMNS]


def _as_list(value) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        parts = value.replace("|", ",").split(",")
        return [p.strip() for p in parts if p.strip()]
    return [str(v) for v in value]


def validate_catalog(df: pd.DataFrame, *, file: object = "catalog", row_offset: int = 2) -> pd.DataFrame:
    """Check and normalise a catalog frame; genres/tags may be lists or '|'/','-separated text."""
    if len(df) == 0:
        raise InputError("empty catalog", file=file, fix="give at least one item, or omit the catalog")
    if "item_id" not in df.columns:
        raise InputError(f"missing column 'item_id'; found {list(df.columns)}", file=file,
                         field="item_id", fix="map it with --item-map item_id=COL")
    df = df.reset_index(drop=True)
    out = pd.DataFrame({"item_id": df["item_id"].astype(str).str.strip()})
    _check_length(out["item_id"], "item_id", file, row_offset)
    dup = out["item_id"].duplicated()
    _fail_on_first(dup, "item id listed twice", file=file, field="item_id", row_offset=row_offset,
                   fix="keep one row per item")
    out["title"] = df["title"].astype(object).where(df["title"].notna(), None) if "title" in df.columns else None
    out["title"] = [str(t).strip() if t is not None else f"Item {i}" for t, i in zip(out["title"], out["item_id"])]
    if "year" in df.columns:
        year = pd.to_numeric(df["year"], errors="coerce")
        _fail_on_first(year.isna() & df["year"].notna() & (df["year"].astype(str).str.strip() != ""),
                       "year is not a number", file=file, field="year", row_offset=row_offset,
                       fix="give a 4-digit year or leave it empty")
        _fail_on_first(year.notna() & ~year.between(0, 9999), "year is not a 4-digit year", file=file, field="year",
                       row_offset=row_offset, fix="give a 4-digit year or leave it empty")
        out["year"] = year.round().astype("Int64")
    else:
        out["year"] = pd.array([pd.NA] * len(df), dtype="Int64")
    for col in ("genres", "tags"):
        out[col] = [_as_list(v) for v in df[col]] if col in df.columns else [[] for _ in range(len(df))]
    for col in ("text", "series"):
        out[col] = df[col].astype(object).where(df[col].notna(), None) if col in df.columns else None
    _cut_long_text(out, file)
    return out[CATALOG_COLUMNS]


def _check_length(values: pd.Series, field: str, file, row_offset: int) -> None:
    """Ids and short labels are never cut (two could become one): too long is an error."""
    limit = TEXT_LIMITS["id"]
    long = values.astype(str).str.len() > limit  # None and NaN read as short words
    _fail_on_first(long, f"longer than {limit} characters", file=file, field=field,
                   row_offset=row_offset, fix=f"is this the right column? {field} must be a short label")


def _cut(value, limit: int):
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut_long_text(out: pd.DataFrame, file) -> None:
    """Catalog text cut to TEXT_LIMITS, in place; a warning counts the items cut per field."""
    cut = {}
    for col in ("title", "text", "series"):
        limit = TEXT_LIMITS[col]
        long = out[col].map(lambda v: isinstance(v, str) and len(v) > limit)
        if long.any():
            cut[col] = int(long.sum())
            out.loc[long, col] = out.loc[long, col].map(lambda v: _cut(v, limit))
    for col in ("genres", "tags"):
        n, size = TEXT_LIMITS["list_items"], TEXT_LIMITS["list_item"]
        long = out[col].map(lambda xs: len(xs) > n or any(len(x) > size for x in xs))
        if long.any():
            cut[col] = int(long.sum())
            out[col] = [[_cut(x, size) for x in xs[:n]] for xs in out[col]]
    if cut:
        log.warning("%s: cut catalog text to its limits %s (items cut per field: %s)", file,
                    {k: TEXT_LIMITS[k] for k in ("title", "text", "series", "list_item", "list_items")}, cut)


def catalog_from_events(events: pd.DataFrame) -> pd.DataFrame:
    """A bare catalog (titles = ids) for logs that come without one."""
    ids = pd.unique(events["item_id"])
    return validate_catalog(pd.DataFrame({"item_id": ids, "title": [f"Item {i}" for i in ids]}))
