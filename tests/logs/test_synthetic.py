import json

import numpy as np
import pandas as pd
import pytest

from verbalrec.errors import InputError
from verbalrec.logs.schema import ENGAGEMENTS, NOISE_ENGAGEMENTS, validate_catalog, validate_events
from verbalrec.logs.synthetic import SyntheticConfig, _titles, generate, write_truth


@pytest.fixture(scope="module")
def small():
    return generate(SyntheticConfig(seed=3, n_users=300, chunk_users=128))


def _plays(log):
    ev = log.events
    return ev[ev["engagement"] == "play"]


def test_same_seed_same_log_other_seed_differs():
    cfg = SyntheticConfig(seed=11, n_users=60, events_per_user=40)
    (a, ta), (b, tb) = generate(cfg), generate(SyntheticConfig(seed=11, n_users=60, events_per_user=40))
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.catalog, b.catalog)
    assert ta == tb
    c, _ = generate(SyntheticConfig(seed=12, n_users=60, events_per_user=40))
    assert not a.events.equals(c.events)
    assert list(a.catalog["title"]) != list(c.catalog["title"])


def test_output_is_already_in_validated_form(small):
    log, _ = small
    pd.testing.assert_frame_equal(validate_catalog(log.catalog), log.catalog)
    pd.testing.assert_frame_equal(validate_events(log.events, catalog=log.catalog), log.events)
    ev = log.events
    assert not ev.duplicated(["user_id", "item_id", "timestamp", "engagement"]).any()
    assert ev.groupby("user_id")["timestamp"].apply(lambda t: t.is_monotonic_increasing and t.is_unique).all()
    assert ev["user_id"].nunique() == 300
    assert ev["rating"].isna().all() and set(ev["device"]) <= {"tv", "mobile", "tablet", "web"}


def test_catalog_looks_like_a_streaming_service(small):
    cat = small[0].catalog
    assert cat["title"].is_unique and cat["item_id"].is_unique
    episodes = cat[cat["series"].notna()]
    assert len(episodes) and episodes["title"].str.fullmatch(r".+: S\d+E\d+").all()
    assert (episodes["title"].str.split(": S").str[0] == episodes["series"]).all()
    assert cat["genres"].map(len).between(1, 3).all() and cat["tags"].map(len).ge(2).all()
    assert cat["text"].str.len().gt(20).all() and cat["year"].between(1950, 2026).all()


def test_titles_stay_unique_for_big_catalogs():
    titles = _titles(np.random.default_rng(0), 40_000)
    assert len(set(titles)) == 40_000 and all(t.strip() == t for t in titles)


def test_all_engagements_and_truth_counts(small):
    log, truth = small
    counts = log.events["engagement"].value_counts()
    assert set(counts.index) == set(ENGAGEMENTS)
    assert truth["counts"] == {k: int(v) for k, v in counts.items()}
    noise = log.events["engagement"].isin(NOISE_ENGAGEMENTS)
    assert truth["noise"]["events"] == noise.sum()
    assert 0.15 < truth["noise"]["share"] < 0.35  # default noise_share is 0.25
    assert log.events.loc[noise, "duration_min"].le(2.5).all()  # noise is short
    no_duration = log.events["engagement"].isin(["thumb_up", "thumb_down", "add_to_list"])
    assert log.events.loc[no_duration, "duration_min"].isna().all()
    assert log.events.loc[~no_duration, "duration_min"].gt(0).all()


def test_discovery_and_non_discovery_plays(small):
    log, truth = small
    ev = log.events
    signal = ~ev["engagement"].isin(NOISE_ENGAGEMENTS)  # as tasks/build.py: noise does not count as seen
    seen_before = ev[signal].duplicated(["user_id", "item_id"]).reindex(ev.index, fill_value=True)
    plays = ev["engagement"] == "play"
    non_discovery = (seen_before & plays).sum() / plays.sum()
    assert 0.2 <= non_discovery <= 0.5
    assert truth["plays"]["plays"] == plays.sum()
    assert truth["plays"]["non_discovery_share"] == pytest.approx(non_discovery)


def test_series_continuation(small):
    log, truth = small
    catalog = log.catalog.assign(position=range(len(log.catalog)))  # episodes are listed in order
    plays = _plays(log).merge(catalog[["item_id", "series", "position"]], on="item_id")
    same_user = plays["user_id"].eq(plays["user_id"].shift())
    same_show = plays["series"].notna() & plays["series"].eq(plays["series"].shift())
    continuation = same_user & same_show & plays["position"].eq(plays["position"].shift() + 1)
    assert continuation.mean() > 0.2
    assert truth["plays"]["next_episode"] == continuation.sum()


def test_planted_tastes_show_in_plays(small):
    log, truth = small
    genres = _plays(log).merge(log.catalog[["item_id", "genres"]], on="item_id").explode("genres")
    top = genres.groupby("user_id")["genres"].agg(lambda g: g.value_counts().index[0])
    users = list(top.index)

    def hit_rate(planted_for):
        return np.mean([top[u] in [g for g, _ in truth["users"][planted_for[u]]["top_genres"][:2]] for u in users])
    hit = hit_rate({u: u for u in users})
    shuffled = hit_rate(dict(zip(users, np.random.default_rng(0).permutation(users))))
    assert hit >= 0.6 and hit >= shuffled + 0.3


def test_size_follows_config():
    cfg = SyntheticConfig.for_events(20_000, seed=1)
    log, truth = generate(cfg)
    assert 0.8 * 20_000 < len(log.events) < 1.2 * 20_000 and truth["events"] == len(log.events)
    assert log.events["timestamp"].min() >= pd.Timestamp(cfg.start, tz="UTC").timestamp()


def test_write_truth(tmp_path, small):
    _, truth = small
    write_truth(truth, tmp_path / "truth.json")
    back = json.loads((tmp_path / "truth.json").read_text())
    assert back["counts"] == truth["counts"] and len(back["users"]) == 300
    first = back["users"]["u000"]
    assert len(first["top_genres"]) == 3 and set(first["devices"]) == {"tv", "mobile", "tablet", "web"}


@pytest.mark.parametrize("bad, field", [
    (dict(n_users=0), "n_users"), (dict(n_films=2.5), "n_films"), (dict(explore=1.5), "explore"),
    (dict(noise_share=0.95), "noise_share"), (dict(n_genres=1), "n_genres"), (dict(seed=-1), "seed"),
    (dict(events_per_user="many"), "events_per_user"), (dict(episodes_per_series=(5, 2)), "episodes_per_series"),
    (dict(start="yesterday-ish"), "start"), (dict(film_share=True), "film_share"),
])
def test_config_validation(bad, field):
    with pytest.raises(InputError) as err:
        SyntheticConfig(**bad)
    assert err.value.field == field and err.value.fix


def test_config_has_help_and_accepts_lists():
    from dataclasses import fields
    assert all(f.metadata.get("help") for f in fields(SyntheticConfig))
    assert SyntheticConfig(episodes_per_series=[2, 4]).episodes_per_series == (2, 4)
