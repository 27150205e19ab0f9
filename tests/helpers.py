"""Shared test helpers: build small TaskSets from plain Python rows."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from verbalrec.logs.schema import catalog_from_events
from verbalrec.tasks.schema import TASK_SCHEMA, TaskSet


def make_taskset(rows: list[dict], catalog_ids=None) -> TaskSet:
    """A TaskSet from dicts that need only ``user_id``, ``target_item``, ``candidates`` and
    ``hist_item``. Defaults: ``task_id`` "t<i>", ``split`` "train", ``target_time`` i + 1000,
    ``hist_time`` consecutive seconds just before the target (it is a required column), other
    ``hist_*`` lists of None; ``label`` and ``discovery`` are always computed. Item ids are
    turned into strings. The catalog holds ``catalog_ids``, else every item the rows mention."""
    full = []
    for i, row in enumerate(rows):
        r = dict(row)
        hist = [str(x) for x in r["hist_item"]]
        cands = [str(x) for x in r["candidates"]]
        target = str(r["target_item"])
        if cands.count(target) != 1:
            raise ValueError(f"row {i}: target {target!r} must occur exactly once in candidates {cands}")
        r.update(hist_item=hist, candidates=cands, target_item=target, user_id=str(r["user_id"]),
                 label=cands.index(target), discovery=target not in hist)
        r.setdefault("task_id", f"t{i}")
        r.setdefault("split", "train")
        r.setdefault("target_time", i + 1000)
        r.setdefault("hist_time", [r["target_time"] - len(hist) + k for k in range(len(hist))])
        for name in ("hist_engagement", "hist_duration", "hist_device", "hist_rating"):
            r.setdefault(name, [None] * len(hist))
        full.append({name: r[name] for name in TASK_SCHEMA.names})
    table = pa.Table.from_pylist(full, schema=TASK_SCHEMA)
    if catalog_ids is None:
        catalog_ids = list(dict.fromkeys(i for r in full for i in r["hist_item"] + r["candidates"]))
    catalog = catalog_from_events(pd.DataFrame({"item_id": [str(i) for i in catalog_ids]}))
    return TaskSet(table, catalog)


DAY = 86400
T0 = 1_700_000_000


def tiny_events() -> pd.DataFrame:
    """6 users x 8 events over items i0..i11, with noise, a same-visit thumb and a rewatch."""
    rows = []
    for u in range(6):
        for k in range(8):
            item = f"i{(u + k) % 12}"
            rows.append((f"u{u}", T0 + (k * 6 + u) * DAY // 10, item, "play", 30.0 + k, "tv", float("nan")))
    # user u0: a trailer (noise), a thumb right after a play (same visit), a rewatch at the end
    rows += [("u0", T0 + 50 * DAY, "i11", "trailer", 1.0, "mobile", float("nan")),
             ("u0", T0 + 51 * DAY, "i1", "play", 90.0, "tv", float("nan")),
             ("u0", T0 + 51 * DAY + 60, "i1", "thumb_up", float("nan"), "tv", float("nan")),
             ("u0", T0 + 52 * DAY, "i9", "play", 20.0, "tv", float("nan"))]
    return pd.DataFrame(rows, columns=["user_id", "timestamp", "item_id", "engagement", "duration_min",
                                       "device", "rating"])


def tiny_catalog() -> pd.DataFrame:
    return pd.DataFrame({"item_id": [f"i{i}" for i in range(12)], "title": [f"Title {i}" for i in range(12)],
                         "year": [2000 + i for i in range(12)], "genres": [["Drama"] if i % 2 else ["Comedy"] for i in range(12)]})
