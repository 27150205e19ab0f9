"""Timestamps are validated once, at load time: finite, inside the allowed range, in the unit
the user named; a value that fits another unit says which. `data convert` is atomic as a whole."""

import json
import warnings

import pandas as pd
import pytest

from verbalrec.cli import main
from verbalrec.errors import InputError
from verbalrec.logs import TabularSpec, load_log, load_saved_log, load_tabular, save_log
from verbalrec.logs.schema import TS_MAX, TS_MIN, validate_events


def csv(tmp_path, *stamps, name="ev.csv"):
    rows = "".join(f"u1,{t},i{k}\n" for k, t in enumerate(stamps))
    path = tmp_path / name
    path.write_text("user_id,timestamp,item_id\n" + rows)
    return path


def one_line_error(path, **spec) -> str:
    with pytest.raises(InputError) as err:
        load_tabular(TabularSpec(events=str(path), **spec))
    text = str(err.value)
    assert "\n" not in text and path.name in text
    return text


@pytest.mark.parametrize("bad", ["inf", "-inf", "1e400"])
def test_non_finite_timestamps_name_row_and_field(tmp_path, bad):
    text = one_line_error(csv(tmp_path, 1_700_000_000, bad))
    assert "row 3, field 'timestamp'" in text and "not finite" in text


def test_milliseconds_read_as_seconds_name_the_unit_meant(tmp_path):
    text = one_line_error(csv(tmp_path, 1_700_000_000_500, 1_700_000_100_000))
    assert "row 2, field 'timestamp'" in text
    assert "1970-01-01" in text and "2100-01-01" in text  # the allowed range
    assert "--timestamp-unit ms" in text


@pytest.mark.parametrize("value, unit", [(100_000_000_000_000, "us"), (1_700_000_000_000_000_000, "ns")])
def test_other_wrong_units_are_guessed(tmp_path, value, unit):
    assert f"--timestamp-unit {unit}" in one_line_error(csv(tmp_path, value))


@pytest.mark.parametrize("value", ["1e19", "-5", "99999999999999999999999"])
def test_values_no_unit_fits_give_the_range(tmp_path, value):
    text = one_line_error(csv(tmp_path, value))
    assert "outside" in text and "1970-01-01" in text and "--timestamp-unit" not in text


def test_a_declared_unit_is_checked_too(tmp_path):
    # 1.7e21 read as ms is year ~5e10, and no other unit brings it into the range
    text = one_line_error(csv(tmp_path, 1_700_000_000_000_000_000_000), timestamp_unit="ms")
    assert "outside" in text and "row 2" in text
    ok = load_tabular(TabularSpec(events=str(csv(tmp_path, 1_700_000_000_123)), timestamp_unit="ms"))
    assert ok.events["timestamp"].tolist() == [1_700_000_000]


def test_iso_dates_outside_the_range_fail(tmp_path):
    text = one_line_error(csv(tmp_path, "2025-01-01", "1900-01-01"), timestamp_unit="iso")
    assert "row 3" in text and "outside" in text


def test_iso_parses_without_a_pandas_warning(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log = load_tabular(TabularSpec(events=str(csv(tmp_path, "2025-06-08 14:30", "2025-06-09T10:00:00Z")),
                                       timestamp_unit="iso"))
        assert log.events["timestamp"].tolist() == [1749393000, 1749463200]
        text = one_line_error(csv(tmp_path, "8 June 2025", name="b.csv"), timestamp_unit="iso")
    assert "ISO 8601" in text and "--timestamp-format" in text


def test_range_bounds_are_inclusive():
    ev = pd.DataFrame({"user_id": ["u", "u"], "item_id": ["a", "b"], "timestamp": [TS_MIN, TS_MAX]})
    assert validate_events(ev)["timestamp"].tolist() == [TS_MIN, TS_MAX]
    with pytest.raises(InputError, match="row 2, field 'timestamp'"):
        validate_events(ev.assign(timestamp=[TS_MAX + 1, 5]))


def test_recbole_float_timestamps_are_checked(tmp_path):
    d = tmp_path / "shop"
    d.mkdir()
    (d / "shop.inter").write_text("user_id:token\titem_id:token\ttimestamp:float\n1\t10\t100\n1\t11\tinf\n")
    with pytest.raises(InputError, match=r"shop.inter, row 3, field 'timestamp'.*not finite"):
        load_log(d)


def test_cli_describe_of_a_hostile_file_is_one_line(tmp_path, capsys):
    assert main(["data", "describe", str(csv(tmp_path, 1, "inf"))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("verbalrec: error:") and len(err.strip().splitlines()) == 1


def test_convert_of_bad_data_writes_nothing_and_keeps_an_old_log(tmp_path, capsys):
    good, out = csv(tmp_path, 1_700_000_000, 1_700_000_100, name="good.csv"), tmp_path / "log"
    assert main(["data", "convert", str(good), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = csv(tmp_path, 1_700_000_000, 100_000_000_000_000, name="bad.csv")
    assert main(["data", "convert", str(bad), "--out", str(out)]) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert main(["data", "convert", str(bad), "--out", str(tmp_path / "fresh")]) == 2
    assert not (tmp_path / "fresh").exists()


def test_a_failed_save_leaves_no_data_without_its_manifest(tmp_path, monkeypatch, tiny_log):
    import verbalrec.logs.store as store
    out = tmp_path / "log"
    save_log(tiny_log, out)
    old = json.loads((out / "log.json").read_text())
    (out / "truth.json").write_text("{}")  # files of others in the folder stay
    real = store.write_parquet

    def fail_on_catalog(path, table):
        if "catalog" in str(path):
            raise OSError("disk full")
        real(path, table)

    monkeypatch.setattr(store, "write_parquet", fail_on_catalog)
    with pytest.raises(OSError):
        save_log(tiny_log.__class__(tiny_log.events.head(3), tiny_log.catalog, name="new"), out)
    assert json.loads((out / "log.json").read_text()) == old  # the old log, whole
    assert len(load_saved_log(out).events) == len(tiny_log.events)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log"]  # no staging folder left
    with pytest.raises(OSError):
        save_log(tiny_log, tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()
    monkeypatch.setattr(store, "write_parquet", real)
    save_log(tiny_log.__class__(tiny_log.events.head(3), tiny_log.catalog, name="new"), out)
    assert load_saved_log(out).name == "new" and len(load_saved_log(out).events) == 3
    assert (out / "truth.json").exists()
