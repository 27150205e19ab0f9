"""Heuristic verbalization: the paper's 'verbalization engineering' by hand, no model.

What it does to the template, each for a reason the paper names (section 7):
* noise filtering: trailers, autoplay previews and plays shorter than ``min_minutes`` go;
* syntax normalisation: natural-language dates, internal IDs dropped, engagements as verbs;
* aggregation: consecutive episodes of one show become "watched 5 episodes of X";
* metadata: year and genres after a title;
* interest summary: the top genres of what was kept, weighted by thumbs.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timezone
from typing import Sequence

import pandas as pd

from ..logs.catalog import Catalog, clean_field
from ..logs.schema import NOISE_ENGAGEMENTS
from ..tasks.schema import Task

_VERBS = {"play": "watched", "thumb_up": "liked", "thumb_down": "disliked", "add_to_list": "added to their list"}


def part_of_day(hour: int) -> str:
    return "night" if hour < 5 else "morning" if hour < 12 else "afternoon" if hour < 17 else "evening" if hour < 22 else "night"


def natural_date(ts: int) -> str:
    dt = datetime.fromtimestamp(int(ts), tz=timezone.utc)
    return f"{dt:%A} {part_of_day(dt.hour)}, {dt.day} {dt:%b %Y}"


def is_noise(e: dict, min_minutes: float) -> bool:
    d = e.get("duration_min")
    short_play = e.get("engagement") == "play" and d is not None and not math.isnan(d) and d < min_minutes
    return e.get("engagement") in NOISE_ENGAGEMENTS or short_play


class HeuristicVerbalizer:
    name, version = "heuristic", "1"

    def __init__(self, catalog: pd.DataFrame | Catalog, min_minutes: float = 2.0, top_genres: int = 3):
        self.catalog = catalog if isinstance(catalog, Catalog) else Catalog(catalog)
        self.min_minutes, self.top_genres = min_minutes, top_genres

    def _describe_item(self, item_id: str) -> str:
        row = self.catalog.rows.get(str(item_id)) or {}
        bits = [str(int(row["year"]))] if row.get("year") is not None and not pd.isna(row.get("year")) else []
        bits += [", ".join(clean_field(g) for g in list(row.get("genres") or [])[:3])] if len(row.get("genres") or []) else []
        return f"{self.catalog.title(item_id)}" + (f" ({'; '.join(bits)})" if bits else "")

    def _series(self, item_id: str) -> str | None:
        s = (self.catalog.rows.get(str(item_id)) or {}).get("series")
        return clean_field(s) if isinstance(s, str) and s else None

    def _visits(self, events: list[dict]) -> list[dict]:
        """Merge same-item follow-ups (thumb after play) and runs of one show's episodes."""
        visits: list[dict] = []
        for e in events:
            series = self._series(e["item_id"])
            last = visits[-1] if visits else None
            if last and (last["item_id"] == e["item_id"] or (series and last["series"] == series)):
                last["events"].append(e)
                last["items"].add(e["item_id"])
                continue
            visits.append({"item_id": e["item_id"], "series": series, "events": [e], "items": {e["item_id"]}})
        return visits

    def _phrase(self, v: dict) -> tuple[str, str]:
        """(when, what) of one visit."""
        engagements = [e["engagement"] for e in v["events"]]
        when = natural_date(v["events"][0]["timestamp"])
        if v["series"] and len(v["items"]) > 1:
            what = f"watched {len(v['items'])} episodes of {v['series']}"
        else:
            verb = "watched" if "play" in engagements else _VERBS.get(engagements[0], clean_field(
                str(engagements[0]).replace("_", " ")))
            what = f"{verb} {self._describe_item(v['item_id'])}"
        minutes = sum(e["duration_min"] for e in v["events"] if e.get("duration_min") is not None
                      and not math.isnan(e["duration_min"]))
        extra = [f"{minutes:.0f} min"] if minutes else []
        extra += ["liked it"] * ("thumb_up" in engagements and "watched" in what) + \
                 ["disliked it"] * ("thumb_down" in engagements and "watched" in what)
        return when, what + (f" ({', '.join(extra)})" if extra else "")

    def _summary(self, kept: list[dict]) -> str:
        weights: Counter = Counter()
        for e in kept:
            w = {"thumb_up": 2.0, "thumb_down": -1.0}.get(e["engagement"], 1.0)
            for g in (self.catalog.rows.get(str(e["item_id"])) or {}).get("genres") or []:
                weights[clean_field(g)] += w
        top = [g for g, w in weights.most_common(self.top_genres) if w > 0]
        if not top:
            return ""
        return "Interests: mostly " + (", ".join(top[:-1]) + " and " + top[-1] if len(top) > 1 else top[0]) + "."

    def verbalize_one(self, task: Task) -> str:
        kept = [e for e in task.history() if not is_noise(e, self.min_minutes)]
        lines: list[str] = []
        last_when = None
        for when, what in (self._phrase(v) for v in self._visits(kept)):
            if when == last_when:  # one line per session-like time slot
                lines[-1] += f"; {what}"
            else:
                lines.append(f"- {when}: {what}")
            last_when = when
        summary = self._summary(kept)
        return "\n".join(([summary] if summary else []) + lines)

    def verbalize(self, tasks: Sequence[Task]) -> list[str]:
        return [self.verbalize_one(t) for t in tasks]
