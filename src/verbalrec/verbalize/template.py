"""The paper's template verbalization.

One line per interaction, fields joined by ", ", missing fields skipped (paper section 3):

    20250608, Monday, 2 PM, ID: 123456, Stranger Things, Play, Duration: 80.08 min

With ``metadata=True`` the catalog's year, genres and tags follow the title, as in the paper's
Table 3 ("... Stranger Things, year: 2016, plot: nostalgic, supernatural, Thumb Up").
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Sequence

import pandas as pd

from ..logs.catalog import Catalog, clean_field, is_missing
from ..logs.schema import engagement_display
from ..tasks.schema import Task


def format_time(ts: int) -> str:
    """``20250608, Monday, 2 PM`` (UTC)."""
    dt = datetime.fromtimestamp(int(ts), tz=timezone.utc)
    hour = dt.hour % 12 or 12
    return f"{dt:%Y%m%d}, {dt:%A}, {hour} {'AM' if dt.hour < 12 else 'PM'}"


def template_line(event: dict, catalog: Catalog, metadata: bool = False) -> str:
    fields = [format_time(event["timestamp"]), f"ID: {clean_field(event['item_id'])}",
              catalog.title(event["item_id"])]
    if metadata:
        fields += catalog.metadata(event["item_id"])
    if not is_missing(event.get("engagement")):
        fields.append(clean_field(engagement_display(str(event["engagement"]))))
    if not is_missing(event.get("duration_min")):
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

