"""Loader mistakes a new user makes get a hint that names the fix: a RecBole file instead of
its folder, broken JSON lines (by line number), a damaged saved log."""

import pandas as pd
import pytest

from verbalrec.errors import InputError
from verbalrec.logs import load_log, load_saved_log, save_log


def test_an_inter_file_given_instead_of_its_folder_gets_a_hint(tmp_path):
    d = tmp_path / "shop"
    d.mkdir()
    (d / "shop.inter").write_text("user_id:token\titem_id:token\ttimestamp:float\n1\t10\t100\n")
    with pytest.raises(InputError, match=r"RecBole atomic file.*fix: pass its folder .*shop") as err:
        load_log(d / "shop.inter")
    assert str(d) in str(err.value)


def test_a_movielens_file_given_instead_of_its_folder_gets_a_hint(tmp_path):
    (tmp_path / "u.data").write_text("1\t1\t4\t881250949\n")
    with pytest.raises(InputError, match="MovieLens.*pass its folder"):
        load_log(tmp_path / "u.data")


@pytest.mark.parametrize("text, line", [
    ('{"user_id": "a", "item_id": "x", "timestamp": 1}\n{"user_id": "a", oops}\n', 2),
    ('{"user_id": "a", "item_id": "x", "timestamp": 1}\n\n[1, 2]\n', 3),  # not an object
    ('"just a string"\n', 1),
])
def test_broken_jsonl_names_the_line(tmp_path, text, line):
    path = tmp_path / "ev.jsonl"
    path.write_text(text)
    with pytest.raises(InputError, match=rf"ev.jsonl, row {line}: .*fix: one JSON object per line") as err:
        load_log(path)
    assert "position" not in str(err.value)


def test_jsonl_rows_are_line_numbers(tmp_path):
    path = tmp_path / "ev.jsonl"
    path.write_text('{"user_id": "a", "item_id": "x", "timestamp": 1}\n{"user_id": "a", "item_id": "y", "timestamp": "soon"}\n')
    with pytest.raises(InputError, match="ev.jsonl, row 2, field 'timestamp'"):
        load_log(path)


def test_a_damaged_saved_log_is_named(tmp_path, tiny_log):
    save_log(tiny_log, tmp_path / "log")
    (tmp_path / "log" / "events.parquet").unlink()
    with pytest.raises(InputError, match=r"events.parquet.*data convert"):
        load_saved_log(tmp_path / "log")
    (tmp_path / "log" / "events.parquet").write_text("not parquet")
    with pytest.raises(InputError, match=r"events.parquet.*not a readable"):
        load_saved_log(tmp_path / "log")
    (tmp_path / "log" / "log.json").write_text("{broken")
    with pytest.raises(InputError, match=r"log.json.*not valid JSON"):
        load_saved_log(tmp_path / "log")


def test_a_saved_log_with_times_out_of_range_is_refused(tmp_path, tiny_log):
    save_log(tiny_log, tmp_path / "log")
    ev = tiny_log.events.assign(timestamp=tiny_log.events["timestamp"] * 1000)
    ev.to_parquet(tmp_path / "log" / "events.parquet")
    with pytest.raises(InputError, match=r"events.parquet, row 1, field 'timestamp'.*outside"):
        load_saved_log(tmp_path / "log")
    assert isinstance(pd.read_parquet(tmp_path / "log" / "events.parquet"), pd.DataFrame)


def test_tasks_build_of_a_damaged_saved_log_is_one_line(tmp_path, tiny_log, capsys):
    from verbalrec.cli import main
    save_log(tiny_log, tmp_path / "log")
    (tmp_path / "log" / "log.json").write_text("{broken")
    assert main(["tasks", "build", str(tmp_path / "log"), "--n-candidates", "3", "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert "log.json: not valid JSON" in err and len(err.strip().splitlines()) == 1
