"""The paper's template verbalization and the one shared candidate-list format.

One line per interaction, fields joined by ", ", missing fields skipped (paper section 3):

    20250608, Monday, 2 PM, ID: 123456, Stranger Things, Play, Duration: 80.08 min

With ``metadata=True`` the catalog's year, genres and tags follow the title, as in the paper's
Table 3 ("... Stranger Things, year: 2016, plot: nostalgic, supernatural, Thumb Up").
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Sequence

import pandas as pd

from ..logs.schema import engagement_display
from ..tasks.schema import Task

# C0 and C1 control characters (LF, CR, VT, FF, FS, GS, RS, NEL, ...) and the Unicode line and
# paragraph separators: everything str.splitlines() or a terminal treats as a break
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def clean_field(text: object) -> str:
    """Log text is data: one line, no control characters, so it cannot forge structure."""
    return _CONTROL.sub(" ", str(text)).strip()


def format_time(ts: int) -> str:
    """``20250608, Monday, 2 PM`` (UTC)."""
    dt = datetime.fromtimestamp(int(ts), tz=timezone.utc)
    hour = dt.hour % 12 or 12
    return f"{dt:%Y%m%d}, {dt:%A}, {hour} {'AM' if dt.hour < 12 else 'PM'}"


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


class Catalog:
    """Fast item lookups for verbalizers: title and metadata by item id."""

    def __init__(self, catalog: pd.DataFrame):
        self.rows = {str(r["item_id"]): r for r in catalog.to_dict("records")}

    def title(self, item_id: str) -> str:
        row = self.rows.get(str(item_id))
        return clean_field(row["title"]) if row and not _missing(row.get("title")) else f"Item {item_id}"

    def metadata(self, item_id: str) -> list[str]:
        row = self.rows.get(str(item_id)) or {}
        parts = []
        if not _missing(row.get("year")):
            parts.append(f"year: {int(row['year'])}")
        if len(row.get("genres", []) or []):
            parts.append("genres: " + ", ".join(clean_field(g) for g in row["genres"]))
        if len(row.get("tags", []) or []):
            parts.append("plot: " + ", ".join(clean_field(t) for t in row["tags"]))
        return parts


def template_line(event: dict, catalog: Catalog, metadata: bool = False) -> str:
    fields = [format_time(event["timestamp"]), f"ID: {clean_field(event['item_id'])}",
              catalog.title(event["item_id"])]
    if metadata:
        fields += catalog.metadata(event["item_id"])
    if not _missing(event.get("engagement")):
        fields.append(clean_field(engagement_display(str(event["engagement"]))))
    if not _missing(event.get("duration_min")):
        fields.append(f"Duration: {event['duration_min']:.2f} min")
    return ", ".join(fields)


class TemplateVerbalizer:
    """The paper's fixed template baseline."""

    version = "1"

    def __init__(self, catalog: pd.DataFrame | Catalog, metadata: bool = False):
        self.catalog = catalog if isinstance(catalog, Catalog) else Catalog(catalog)
        self.metadata = metadata
        self.name = "template+meta" if metadata else "template"

    def verbalize(self, tasks: Sequence[Task]) -> list[str]:
        return ["\n".join(template_line(e, self.catalog, self.metadata) for e in t.history()) for t in tasks]


def candidate_labels(n: int) -> list[str]:
    """A, B, C, ... for up to 26 candidates, else 1, 2, 3, ..."""
    return [chr(ord("A") + i) for i in range(n)] if n <= 26 else [str(i + 1) for i in range(n)]


def format_candidates(candidates: Sequence[str], catalog: Catalog, metadata: bool = False) -> str:
    """The one candidate-list format every reasoner prompt uses: ``A. Title (year, genres)``."""
    lines = []
    for label, item in zip(candidate_labels(len(candidates)), candidates):
        meta = catalog.metadata(item) if metadata else []
        lines.append(f"{label}. {catalog.title(item)}" + (f" ({'; '.join(meta)})" if meta else ""))
    return "\n".join(lines)
