"""More ways to write a history, and the seeded *mix* of them that the Reasoner's warm start reads.

A Reasoner trained on one layout reads that layout, not the history: the same tasks scored 0.453
with the template and 0.163 with template + metadata. So the warm start writes every training
history in many reasonable wordings, and the Reasoner learns the items, not the format:

* ``titles``: one title per line, nothing else;
* ``sentences``: one natural sentence per interaction ("Liked Fargo (1996), a crime drama.");
* the rule verbalizers (template, template + metadata, heuristic);
* field drops: template lines with each optional field (time, ID, metadata, engagement,
  duration) kept or dropped at random;
* line subsets: any of the above over a random, order-keeping subset of the interactions.

Everything is drawn from one ``random.Random``: the same seed gives the same texts.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from typing import Sequence

from ..logs.catalog import Catalog, clean_field
from ..logs.schema import engagement_display
from ..tasks.schema import Task
from .heuristic import HeuristicVerbalizer, natural_date
from .template import TemplateVerbalizer, format_time

_SENTENCE_VERB = {"play": "Watched", "thumb_up": "Liked", "thumb_down": "Disliked",
                  "add_to_list": "Added to the watchlist"}


def _year(catalog: Catalog, item_id: str) -> str:
    year = (catalog.rows.get(str(item_id)) or {}).get("year")
    return "" if year is None or (isinstance(year, float) and math.isnan(year)) else f" ({int(year)})"


class TitlesVerbalizer:
    """One title per line, oldest first: the least a history can say."""

    name, version = "titles", "1"

    def __init__(self, catalog):
        self.catalog = catalog if isinstance(catalog, Catalog) else Catalog(catalog)

    def verbalize(self, tasks: Sequence[Task]) -> list[str]:
        return ["\n".join(self.catalog.title(i) for i in t.hist_item) for t in tasks]


class SentencesVerbalizer:
    """One plain sentence per interaction: verb, title, year, first genres, when."""

    name, version = "sentences", "1"

    def __init__(self, catalog):
        self.catalog = catalog if isinstance(catalog, Catalog) else Catalog(catalog)

    def sentence(self, event: dict) -> str:
        verb = _SENTENCE_VERB.get(event.get("engagement") or "play", "Engaged with")
        genres = list((self.catalog.rows.get(str(event["item_id"])) or {}).get("genres") or [])[:2]
        kind = f", a {' and '.join(clean_field(g).lower() for g in genres)} title" if genres else ""
        return (f"{verb} {self.catalog.title(event['item_id'])}{_year(self.catalog, event['item_id'])}{kind}"
                f" on {natural_date(event['timestamp'])}.")

    def verbalize(self, tasks: Sequence[Task]) -> list[str]:
        return ["\n".join(self.sentence(e) for e in t.history()) for t in tasks]


def dropped_fields_line(event: dict, catalog: Catalog, rng: random.Random) -> str:
    """A template line with each optional field kept with probability 1/2 (the title always)."""
    keep = {f: rng.random() < 0.5 for f in ("time", "id", "meta", "engagement", "duration")}
    fields = [format_time(event["timestamp"])] if keep["time"] else []
    fields += [f"ID: {clean_field(event['item_id'])}"] if keep["id"] else []
    fields.append(catalog.title(event["item_id"]))
    fields += catalog.metadata(event["item_id"]) if keep["meta"] else []
    if keep["engagement"] and event.get("engagement"):
        fields.append(engagement_display(event["engagement"]))
    duration = event.get("duration_min")
    if keep["duration"] and duration is not None and not math.isnan(duration):
        fields.append(f"Duration: {duration:.2f} min")
    return ", ".join(fields)


#: the wordings of the mix and their default weights (measured in docs/reasoner.md)
MIX_STYLES = {"template": 1.0, "template+meta": 0.5, "heuristic": 1.0, "titles": 3.0, "sentences": 0.5,
              "drop-fields": 1.0}


#: the warm start's history documents: passes per style (titles cost ~2 tokens an event, the
#: template ~18, template + metadata ~29; docs/reasoner.md has the measurements behind these)
HISTORY_PASSES = {"titles": 24.0, "template": 0.3, "template+meta": 0.2, "heuristic": 0.3, "sentences": 0.2,
                  "drop-fields": 0.3}


def line_subset(task: Task, rng: random.Random, min_share: float = 0.5) -> Task:
    """The task with a random, order-keeping subset of at least ``min_share`` of its history."""
    n = len(task.hist_item)
    if n < 2:
        return task
    k = rng.randint(max(1, math.ceil(min_share * n)), n)
    keep = sorted(rng.sample(range(n), k))
    pick = lambda xs: [xs[i] for i in keep] if len(xs) == n else xs  # noqa: E731
    return replace(task, hist_item=pick(task.hist_item), hist_time=pick(task.hist_time),
                   hist_engagement=pick(task.hist_engagement), hist_duration=pick(task.hist_duration),
                   hist_device=pick(task.hist_device), hist_rating=pick(task.hist_rating))


def check_mix(styles: dict[str, float]) -> dict[str, float]:
    """The style weights, or a one-line error naming the known styles."""
    styles = dict(styles)
    unknown = sorted(set(styles) - set(MIX_STYLES))
    if unknown or not styles or min(styles.values()) < 0 or sum(styles.values()) <= 0:
        from ..errors import InputError
        raise InputError(f"bad verbalization mix {styles}", field="mix",
                         fix=f"give non-negative weights, not all 0, for some of {sorted(MIX_STYLES)}")
    return styles


class VerbalizationMix:
    """Writes each history in a style drawn by weight, over a random line subset with probability
    ``subset_p``. ``verbalize_one(task, rng)`` returns ``(style, text)``."""

    def __init__(self, catalog, styles: dict[str, float] | None = None, subset_p: float = 0.25):
        self.catalog = catalog if isinstance(catalog, Catalog) else Catalog(catalog)
        self.styles = check_mix(styles or MIX_STYLES)
        self.subset_p = subset_p
        self._writers = {"template": TemplateVerbalizer(self.catalog),
                         "template+meta": TemplateVerbalizer(self.catalog, metadata=True),
                         "heuristic": HeuristicVerbalizer(self.catalog), "titles": TitlesVerbalizer(self.catalog),
                         "sentences": SentencesVerbalizer(self.catalog)}

    def verbalize_one(self, task: Task, rng: random.Random) -> tuple[str, str]:
        names, weights = zip(*self.styles.items())
        style = rng.choices(names, weights)[0]
        if rng.random() < self.subset_p:
            task = line_subset(task, rng)
        if style == "drop-fields":
            return style, "\n".join(dropped_fields_line(e, self.catalog, rng) for e in task.history())
        return style, self._writers[style].verbalize([task])[0]
