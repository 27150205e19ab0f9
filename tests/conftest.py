import os

# Tiny models on a 2-core machine: one thread is faster than two, and nothing may reach the hub.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from verbalrec.logs.schema import EventLog, validate_catalog, validate_events  # noqa: E402

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


@pytest.fixture
def tiny_log() -> EventLog:
    catalog = validate_catalog(tiny_catalog())
    return EventLog(validate_events(tiny_events(), catalog=catalog), catalog, name="tiny")
