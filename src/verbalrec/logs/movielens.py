"""MovieLens: raw ml-100k (``u.data``/``u.item``) and ml-1m (``ratings.dat``/``movies.dat``),
and ``ml-100k`` by name from the ``recbole`` package data (offline).

MovieLens has ratings, not engagements. The rule (documented in the README):
rating >= 4 -> ``thumb_up``, rating <= 2 -> ``thumb_down``, otherwise ``play``; the rating
itself is kept in the ``rating`` column. Durations and devices are unknown.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .readers import read_delimited
from .schema import EventLog, validate_catalog, validate_events

ML100K_GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                 "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
                 "Romance", "Sci-Fi", "Thriller", "War", "Western"]
_YEAR_SUFFIX = re.compile(r"\s*\((\d{4})\)\s*$")


def rating_to_engagement(rating: pd.Series) -> pd.Series:
    return pd.Series(np.where(rating >= 4, "thumb_up", np.where(rating <= 2, "thumb_down", "play")),
                     index=rating.index)


def _split_title_year(titles: pd.Series) -> tuple[list[str], list]:
    out_t, out_y = [], []
    for t in titles.fillna(""):
        m = _YEAR_SUFFIX.search(t)
        out_t.append(_YEAR_SUFFIX.sub("", t) if m else t)
        out_y.append(int(m.group(1)) if m else None)
    return out_t, out_y


def _ratings_frame(df: pd.DataFrame) -> pd.DataFrame:
    df["engagement"] = rating_to_engagement(pd.to_numeric(df["rating"], errors="coerce"))
    return df


def load_ml100k_raw(directory: Path) -> EventLog:
    directory = Path(directory)
    data_path, item_path = directory / "u.data", directory / "u.item"
    items = read_delimited(item_path, "|", header=False, encoding="latin-1",
                           names=["item_id", "title", "release", "video", "url"] + ML100K_GENRES)
    titles, years = _split_title_year(items["title"])
    genres = [[g for g in ML100K_GENRES if row[g] == "1" and g != "unknown"] for _, row in items.iterrows()]
    catalog = validate_catalog(pd.DataFrame({"item_id": items["item_id"], "title": titles,
                                             "year": years, "genres": genres}), file=item_path, row_offset=1)
    ratings = read_delimited(data_path, "\t", header=False, names=["user_id", "item_id", "rating", "timestamp"])
    events = validate_events(_ratings_frame(ratings), file=data_path, row_offset=1, catalog=catalog)
    return EventLog(events, catalog, name="ml-100k", meta={"source": str(directory), "format": "movielens"})


def load_ml1m_raw(directory: Path) -> EventLog:
    directory = Path(directory)
    movies_path, ratings_path = directory / "movies.dat", directory / "ratings.dat"
    movies = read_delimited(movies_path, "::", header=False, encoding="latin-1",
                            names=["item_id", "title", "genres"])
    titles, years = _split_title_year(movies["title"])
    catalog = validate_catalog(pd.DataFrame({"item_id": movies["item_id"], "title": titles, "year": years,
                                             "genres": movies["genres"]}), file=movies_path, row_offset=1)
    ratings = read_delimited(ratings_path, "::", header=False, names=["user_id", "item_id", "rating", "timestamp"])
    events = validate_events(_ratings_frame(ratings), file=ratings_path, row_offset=1, catalog=catalog)
    return EventLog(events, catalog, name="ml-1m", meta={"source": str(directory), "format": "movielens"})


def recbole_ml100k_dir() -> Path:
    """Where the ``recbole`` wheel ships MovieLens-100k; a clear error says how to get it."""
    fix = ("pip install --no-deps recbole==1.2.1 (ships it offline), or download ml-100k from "
           "grouplens.org and pass its folder")
    try:
        import importlib.util
        spec = importlib.util.find_spec("recbole")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise InputError("dataset 'ml-100k' needs the recbole package data", fix=fix)
    path = Path(list(spec.submodule_search_locations)[0]) / "dataset_example" / "ml-100k"
    if not (path / "ml-100k.inter").exists():
        raise InputError("recbole is installed but has no dataset_example/ml-100k", file=path, fix=fix)
    return path
