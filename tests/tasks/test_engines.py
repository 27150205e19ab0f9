"""Both engines: the same task files for the same events, however the log is partitioned."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from verbalrec.cli import main
from verbalrec.errors import InputError, LeakageError
from verbalrec.logs import save_log
from verbalrec.logs.synthetic import SyntheticConfig, generate
from verbalrec.tasks import build_tasks, load_tasks, preset, save_tasks
from verbalrec.tasks import columnar
from verbalrec.tasks.build import ENGINES, build_to_folder
from verbalrec.tasks.source import resolve

PROTOCOLS = {"paper": dict(history_len=20, train_tasks_per_user=3),
             "llara-pop": dict(n_candidates=8, negatives="popularity")}


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def synth():
    log, _ = generate(SyntheticConfig(seed=3, n_users=40, events_per_user=40, n_films=80, n_series=10))
    # folders of bare event files have no catalog: the items are those of the events
    log.catalog = log.catalog[log.catalog["item_id"].isin(set(log.events["item_id"]))].reset_index(drop=True)
    return log


def partitionings(log, root: Path) -> dict[str, Path]:
    """The same events as: a saved log, hive folders by day (rows shuffled), files by user."""
    save_log(log, root / "saved")
    ev = log.events.copy()
    ev["day"] = (ev["timestamp"] // 86400 % 5).astype(str)
    shuffled = ev.sample(frac=1.0, random_state=0)
    for day, part in shuffled.groupby("day"):
        (root / "hive" / f"day={day}").mkdir(parents=True)
        pq.write_table(pa.Table.from_pandas(part.drop(columns="day"), preserve_index=False),
                       root / "hive" / f"day={day}" / "part.parquet", row_group_size=97)
    (root / "users").mkdir()
    for k, part in ev.groupby(ev["user_id"].str[-1]):
        pq.write_table(pa.Table.from_pandas(part.drop(columns="day"), preserve_index=False), root / "users" / f"{k}.parquet")
    return {"saved": root / "saved", "hive": root / "hive", "users": root / "users"}


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_columnar_same_bytes_for_any_partitioning_and_block_size(tmp_path, synth, monkeypatch, name):
    p = preset("llara" if name.startswith("llara") else "paper", **PROTOCOLS[name])
    logs = partitionings(synth, tmp_path)
    sums = {k: digest(build_to_folder(v, p, tmp_path / f"out-{k}") and tmp_path / f"out-{k}" / "tasks.parquet")
            for k, v in logs.items()}
    monkeypatch.setattr(columnar, "BLOCK_EVENTS", 37)  # many blocks: negatives must not depend on them
    build_to_folder(logs["saved"], p, tmp_path / "small-blocks")
    sums["small-blocks"] = digest(tmp_path / "small-blocks" / "tasks.parquet")
    save_tasks(build_tasks(synth, p, progress=False), tmp_path / "api")  # the Python API writes the same file
    sums["api"] = digest(tmp_path / "api" / "tasks.parquet")
    assert len(set(sums.values())) == 1, sums
    manifests = [json.loads((tmp_path / d / "manifest.json").read_text()) for d in ("out-saved", "out-hive", "api")]
    assert len({json.dumps({**m, "log": None}, sort_keys=True) for m in manifests}) == 1  # data_hash included
    back = load_tasks(tmp_path / "out-hive")
    assert len(back) == sum(back.meta["counts"].values()) > 40


def test_uniform_negatives_are_unseen_items_uniformly(tmp_path):
    """400 users who saw items 0-4, each a different last target: negatives cover the other
    items evenly (chi-square far below its 0.1% tail) and never a seen item."""
    rows = []
    for u in range(400):
        for k in range(5):
            rows.append((f"u{u:03d}", 100 + k, f"i{k:02d}"))
        rows.append((f"u{u:03d}", 200, f"i{5 + u % 25:02d}"))
    ev = pd.DataFrame(rows, columns=["user_id", "timestamp", "item_id"])
    pq.write_table(pa.Table.from_pandas(ev, preserve_index=False), tmp_path / "ev.parquet")
    build_to_folder(tmp_path / "ev.parquet", preset("paper", n_candidates=4), tmp_path / "t")
    test = load_tasks(tmp_path / "t").split("test").tasks()
    assert len(test) == 400
    negs = [c for t in test for c in t.candidates if c != t.target_item]
    counts = pd.Series(negs).value_counts()
    assert not set(counts.index) & {f"i{k:02d}" for k in range(5)} and len(counts) == 25
    expected = np.array([3 * 400 / 24 * (1 - 16 / 400)] * 25)  # each item is the target of 16 tasks
    chi2 = (((counts.to_numpy() - expected) ** 2) / expected).sum()
    assert chi2 < 52.6  # chi-square(24) at 0.001


def leaky_log(tmp_path: Path) -> Path:
    """Equal timestamps: a preview of x at t=5 sits in a training history, and a play of x at
    t=5 (after it in the log) is the valid target -- the same (user, item, time)."""
    rows = [("u0", 1, "a", "play"), ("u0", 5, "x", "preview"), ("u0", 5, "y", "play"), ("u0", 5, "x", "play"),
            ("u0", 7, "w", "play")]
    rows += [(f"u{k}", t, i, "play") for k in range(1, 4) for t, i in ((1, "a"), (2, "b"), (3, "c"), (4, "d"))]
    ev = pd.DataFrame(rows, columns=["user_id", "timestamp", "item_id", "engagement"])
    path = tmp_path / "leaky.parquet"
    pq.write_table(pa.Table.from_pandas(ev, preserve_index=False), path)
    return path


def bad_logs(tmp_path: Path) -> dict[str, Path]:
    ok = pd.DataFrame({"user_id": ["u1", "u1", "u2", "u2"], "timestamp": [1, 2, 1, 2], "item_id": ["a", "b", "a", "c"]})
    out = {}
    def put(name, df, sub=None):
        path = tmp_path / name / (sub or "ev.parquet")
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)
        out[name] = tmp_path / name
    put("missing", ok.drop(columns="item_id"))
    put("types", ok.assign(timestamp=["1", "2", "x", "4"]))
    put("empty", ok, "day=1/a.parquet")
    put("empty", ok.iloc[:0], "day=2/b.parquet")
    put("blank", ok.assign(user_id=["u1", "u1", "", "u2"]))
    put("dupe", pd.concat([ok, ok.iloc[[2]]]))
    put("range", ok.assign(timestamp=[1, 2, 1_700_000_000_000, 4]))  # milliseconds among seconds
    return out


def test_columnar_refuses_leaky_and_bad_input_in_one_line(tmp_path, capsys):
    with pytest.raises(LeakageError, match="task u0:3: a valid target appears in a training task \\(1 targets\\)"):
        build_to_folder(leaky_log(tmp_path), preset("paper", n_candidates=2), tmp_path / "t")
    expect = {"missing": "missing column\\(s\\) \\['item_id'\\]", "types": "field 'timestamp': column has type (large_)?string",
              "empty": "day=2.*no events", "blank": "row 3, field 'user_id': empty value \\(1 row\\)",
              "dupe": "row 5, field 'timestamp': duplicate event",
              "range": "row 3, field 'timestamp': timestamp 1700000000000 is outside the allowed range 1970-01-01"}
    for name, path in bad_logs(tmp_path).items():
        with pytest.raises(InputError, match=expect[name]):
            build_to_folder(path, preset("paper"), tmp_path / "t")
    assert main(["tasks", "build", str(tmp_path / "blank"), "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "empty value" in err and "fix:" in err
    assert not (tmp_path / "t" / "tasks.parquet").exists()  # nothing half-written


def test_cli_builds_a_parquet_folder(tmp_path, synth, capsys):
    logs = partitionings(synth, tmp_path)
    assert main(["tasks", "build", str(logs["hive"]), "--preset", "llara", "--out", str(tmp_path / "t")]) == 0
    assert "[columnar]" in capsys.readouterr().out
    assert len(load_tasks(tmp_path / "t")) == sum(load_tasks(tmp_path / "t").meta["counts"].values())


# ---------------------------------------------------------------- Spark (one local session)

@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    from verbalrec.tasks.spark import session
    s = session()
    yield s
    s.stop()


def test_spark_writes_the_same_files(tmp_path, synth, spark, monkeypatch):
    logs = partitionings(synth, tmp_path)
    for name, p in (("paper", preset("paper", **PROTOCOLS["paper"])),
                    ("llara-pop", preset("llara", **PROTOCOLS["llara-pop"]))):
        build_to_folder(logs["hive"], p, tmp_path / f"col-{name}")
        for parts, src in (("1", "hive"), ("3", "users")):
            monkeypatch.setenv("VERBALREC_SPARK_PARTITIONS", parts)
            out = tmp_path / f"spark-{name}-{parts}"
            build_to_folder(logs[src], p, out, engine="spark")
            ref = tmp_path / f"col-{name}"
            assert digest(out / "tasks.parquet") == digest(ref / "tasks.parquet"), (name, parts)
            assert digest(out / "catalog.parquet") == digest(ref / "catalog.parquet")  # the items of the events
            m, r = (json.loads((d / "manifest.json").read_text()) for d in (out, ref))
            assert {**m, "log": src} == {**r, "log": src}  # the log's name is its folder's


def test_spark_refuses_the_same_inputs_with_the_same_lines(tmp_path, spark):
    def message(path, engine):
        with pytest.raises(InputError) as err:
            build_to_folder(path, preset("paper", n_candidates=2), tmp_path / f"t-{engine}", engine=engine)
        return type(err.value), str(err.value)
    cases = {"leaky": leaky_log(tmp_path), **bad_logs(tmp_path)}
    for name, path in cases.items():
        col, spk = message(path, "columnar"), message(path, "spark")
        assert spk == col, name
        assert "\n" not in spk[1]


def test_more_candidates_than_items_fail_before_building_in_both_engines(tmp_path, spark):
    ok = pd.DataFrame({"user_id": ["u1", "u1", "u2", "u2"], "timestamp": [1, 2, 1, 2], "item_id": ["a", "b", "a", "c"]})
    pq.write_table(pa.Table.from_pandas(ok, preserve_index=False), tmp_path / "ev.parquet")
    for engine in ENGINES:
        with pytest.raises(InputError, match="field 'n_candidates': 4 candidates per task, but the catalog has only 3"):
            build_to_folder(tmp_path / "ev.parquet", preset("paper", n_candidates=4), tmp_path / engine, engine=engine)
        assert not (tmp_path / engine / "tasks.parquet").exists()


def test_writer_bytes_do_not_depend_on_how_tasks_arrive(tmp_path, synth):
    """Engines hand the writer tasks in different pieces; the file must not show it."""
    from verbalrec.tasks.writer import write_tasks_file
    table = build_tasks(synth, preset("paper", history_len=10), progress=False).table
    write_tasks_file(tmp_path / "one.parquet", [table])
    write_tasks_file(tmp_path / "many.parquet", [table.slice(i, 7) for i in range(0, table.num_rows, 7)])
    assert digest(tmp_path / "one.parquet") == digest(tmp_path / "many.parquet")


def test_a_streamed_build_writes_the_same_files_and_refuses_the_same_inputs(tmp_path, synth, monkeypatch):
    """Logs larger than memory spill to user-range buckets and build one bucket at a time: the
    bucket cut, like the block cut, must not change a byte, a manifest or an error line."""
    from verbalrec.tasks import stream
    logs = partitionings(synth, tmp_path)
    cases = {"leaky": leaky_log(tmp_path), **bad_logs(tmp_path)}
    ref = {}
    for name, kw in PROTOCOLS.items():
        p = preset("llara" if name.startswith("llara") else "paper", **kw)
        build_to_folder(logs["hive"], p, tmp_path / f"mem-{name}")
        ref[name] = (p, digest(tmp_path / f"mem-{name}" / "tasks.parquet"))
    errors = {}
    for k, path in cases.items():
        with pytest.raises(InputError) as err:
            build_to_folder(path, preset("paper", n_candidates=2), tmp_path / "t")
        errors[k] = str(err.value)
    monkeypatch.setattr(columnar, "STREAM_EVENTS", 0)
    monkeypatch.setattr(stream, "BUCKET_EVENTS", 150)  # ~10 buckets of the 40-user log
    for name, (p, want) in ref.items():
        for src in ("saved", "hive", "users"):
            out = tmp_path / f"stream-{name}-{src}"
            m = build_to_folder(logs[src], p, out)
            assert digest(out / "tasks.parquet") == want, (name, src)
            r = json.loads((tmp_path / f"mem-{name}" / "manifest.json").read_text())
            assert {**json.loads((out / "manifest.json").read_text()), "log": None} == {**r, "log": None}
            assert m["events"] == len(synth.events)
    assert not list(Path(tempfile_dir()).glob("verbalrec-spill-*"))  # the spill is removed
    for k, path in cases.items():
        with pytest.raises(InputError) as err:
            build_to_folder(path, preset("paper", n_candidates=2), tmp_path / "t")
        assert str(err.value) == errors[k], k
    assert not list(Path(tempfile_dir()).glob("verbalrec-spill-*"))


def tempfile_dir() -> str:
    import tempfile
    return tempfile.gettempdir()


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_parallel_build_writes_the_bytes_of_the_serial_one(tmp_path, synth, monkeypatch, workers):
    """Blocks built by several threads and row groups encoded apart, then stitched into one file
    (stitch.py), must give the file of one thread and one ParquetWriter, byte for byte."""
    from verbalrec.tasks import writer
    monkeypatch.setattr(writer, "ROW_GROUP", 50)  # many row groups (and a short last one)
    monkeypatch.setattr(columnar, "BLOCK_EVENTS", 97)
    p = preset("paper", history_len=10)
    log = partitionings(synth, tmp_path)["saved"]
    prep = columnar.prepare(resolve(log), p)
    n = writer.write_tasks_file_serial(tmp_path / "serial.parquet", columnar.task_tables(prep, columnar.Totals(), workers=1))
    assert n > 3 * 50 and pq.ParquetFile(tmp_path / "serial.parquet").metadata.num_row_groups == -(-n // 50)
    monkeypatch.setattr(writer, "threads", lambda: workers)
    build_to_folder(log, p, tmp_path / "parallel")
    assert digest(tmp_path / "parallel" / "tasks.parquet") == digest(tmp_path / "serial.parquet")
    table = pq.read_table(tmp_path / "serial.parquet")
    writer.write_tasks_file(tmp_path / "pieces.parquet", [table.slice(i, 13) for i in range(0, n, 13)], workers=workers)
    assert digest(tmp_path / "pieces.parquet") == digest(tmp_path / "serial.parquet")
    writer.write_tasks_file(tmp_path / "empty.parquet", [], workers=workers)
    writer.write_tasks_file_serial(tmp_path / "empty-serial.parquet", [])
    assert digest(tmp_path / "empty.parquet") == digest(tmp_path / "empty-serial.parquet")


def test_the_footer_codec_round_trips_parquet_footers(tmp_path, synth):
    from verbalrec.tasks import stitch
    table = build_tasks(synth, preset("paper", history_len=10), progress=False).table
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=100)
    data = path.read_bytes()
    n = int.from_bytes(data[-8:-4], "little")
    footer = data[len(data) - 8 - n:-8]
    assert stitch._encode(stitch._decode(footer)) == footer
