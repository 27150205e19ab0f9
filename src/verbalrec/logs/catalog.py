"""The catalog as every stage reads it: title and metadata by item id, log text cleaned to one line.

A shared type at the bottom of the tree (as LensKit keeps ``ItemList`` in its data package):
verbalizers, reasoner prompts, training rows and the analysis all look items up here.
"""

from __future__ import annotations

import math
import re

import pandas as pd

# C0 and C1 control characters (LF, CR, VT, FF, FS, GS, RS, NEL, ...) and the Unicode line and
# paragraph separators: everything str.splitlines() or a terminal treats as a break
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def clean_field(text: object) -> str:
    """Log text is data: one line, no control characters, so it cannot forge structure."""
    return _CONTROL.sub(" ", str(text)).strip()


def is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


class Catalog:
    """Fast item lookups for verbalizers: title and metadata by item id."""

    def __init__(self, catalog: pd.DataFrame):
        self.rows = {str(r["item_id"]): r for r in catalog.to_dict("records")}

    def title(self, item_id: str) -> str:
        row = self.rows.get(str(item_id))
        return clean_field(row["title"]) if row and not is_missing(row.get("title")) else f"Item {item_id}"

    def metadata(self, item_id: str) -> list[str]:
        row = self.rows.get(str(item_id)) or {}
        parts = []
        if not is_missing(row.get("year")):
            parts.append(f"year: {int(row['year'])}")
        if len(row.get("genres", []) or []):
            parts.append("genres: " + ", ".join(clean_field(g) for g in row["genres"]))
        if len(row.get("tags", []) or []):
            parts.append("plot: " + ", ".join(clean_field(t) for t in row["tags"]))
        return parts
