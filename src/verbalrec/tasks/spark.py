"""The Spark engine: the same kernel, with Spark reading, checking and grouping the events.

Spark reads only the event columns (with each row's file and row number, for the log order and
for error messages), runs the row checks, codes items against the sorted catalog, range-
partitions by user and sorts within partitions; ``mapInArrow`` then hands blocks of whole users
to ``kernel.build_block``. Part files come back to the driver in partition (= user) order and go
through the same writer as the single-node engine, so the task files are the same bytes.

Local mode by default; under ``spark-submit`` or with ``SPARK_REMOTE`` set, the session the
environment configures. ``VERBALREC_SPARK_PARTITIONS`` overrides the number of user ranges.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import InputError
from ..logs.schema import TS_MAX, TS_MIN, EventLog
from . import kernel
from .columnar import Totals, finish_training_stats, time_cutoffs
from .kernel import Context, Events
from .protocol import TaskProtocol, check_catalog_size
from .source import LogFiles, RowProblem, normalize_engagement, raise_row_problem, resolve
from .writer import DICT_LISTS, WRITE_SCHEMA, write_tasks_file

BLOCK_EVENTS = 500_000
_TRANSPORT = pa.schema([pa.field(f.name, pa.list_(pa.int32())) if f.name in DICT_LISTS else f
                        for f in WRITE_SCHEMA] + [pa.field("_stats", pa.string())])
_SPARK_SCHEMA = ("task_id string, user_id string, split string, target_time long, target_item string, "
                 "discovery boolean, label int, candidates array<int>, hist_item array<int>, hist_time array<long>, "
                 "hist_engagement array<int>, hist_duration array<double>, hist_device array<int>, "
                 "hist_rating array<double>, _stats string")


def session():
    """The active Spark session, or a local one (2 GiB driver unless configured)."""
    import warnings
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    from pyspark.sql import SparkSession
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    b = SparkSession.builder.appName("verbalrec-tasks")
    if not os.environ.get("SPARK_REMOTE"):
        b = (b.config("spark.driver.memory", os.environ.get("VERBALREC_SPARK_DRIVER_MEMORY", "2g"))
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "8")
             .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100000"))
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


# ---------------------------------------------------------------- reading and checks

def _read(spark, log: LogFiles):
    """Events with string ids, normalisable engagement, and the global row ``ordinal``."""
    from pyspark.sql import functions as F
    df = (spark.read.option("recursiveFileLookup", "true").parquet(*[str(f) for f in log.files])
          .select(*[c for c in log.columns if c not in _hive_only(log)], "_metadata.file_path", "_metadata.row_index"))
    paths = [r[0] for r in df.select("file_path").distinct().collect()]
    index = {str(f.resolve()): i for i, f in enumerate(log.files)}
    offsets = np.r_[0, np.cumsum(log.rows)[:-1]]
    rows = [(p, int(offsets[index[unquote(urlparse(p).path)]]),
             *[log.hive[index[unquote(urlparse(p).path)]].get(c) for c in _hive_only(log)]) for p in paths]
    files = spark.createDataFrame(rows, ["file_path", "_offset", *_hive_only(log)])
    df = df.join(F.broadcast(files), "file_path").withColumn("ordinal", F.col("_offset") + F.col("row_index"))
    cols = {"user_id": F.col("user_id").cast("string"), "item_id": F.col("item_id").cast("string"),
            "timestamp": F.col("timestamp").cast("long"), "ordinal": F.col("ordinal")}
    for c, typ in (("engagement", "string"), ("device", "string"), ("duration_min", "double"), ("rating", "double")):
        cols[c] = F.col(c).cast(typ) if c in log.columns else F.lit(None).cast(typ)
    return df.select(*[v.alias(k) for k, v in cols.items()])


def _hive_only(log: LogFiles) -> list[str]:
    names = set(pq.read_schema(log.files[0]).names)
    return [c for c in log.columns if c not in names]


def _first_bad(df, check: str, cond) -> RowProblem:
    from pyspark.sql import functions as F
    r = df.filter(cond).agg(F.count("*"), F.min("ordinal")).collect()[0]
    return RowProblem(check, int(r[1] or 0), int(r[0]))


def row_problems(df, eng_map, catalog_ids) -> list[RowProblem]:
    """The row checks of source.ROW_CHECKS, computed by Spark."""
    from pyspark.sql import functions as F
    aggs = []
    conds = {"user_id": F.col("user_id").isNull() | (F.col("user_id") == ""),
             "item_id": F.col("item_id").isNull() | (F.col("item_id") == ""),
             "timestamp": F.col("timestamp").isNull(), "duration": F.col("duration_min") < 0,
             "timestamp_range": (F.col("timestamp") < TS_MIN) | (F.col("timestamp") > TS_MAX)}
    for name, cond in conds.items():
        aggs += [F.sum(F.when(cond, 1).otherwise(0)).alias(f"{name}_n"), F.min(F.when(cond, F.col("ordinal"))).alias(f"{name}_o")]
    r = df.agg(*aggs).collect()[0]
    problems = [RowProblem(n, int(r[f"{n}_o"] or 0), int(r[f"{n}_n"] or 0)) for n in conds]
    if r["timestamp_range_n"]:  # the value, as the columnar engine reports it
        problems[-1].value = str(df.filter(F.col("ordinal") == r["timestamp_range_o"]).first()["timestamp"])
    if catalog_ids is not None:
        unknown = (df.filter(F.col("item_id").isNotNull() & (F.col("item_id") != ""))
                   .join(F.broadcast(catalog_ids.select("item_id")), "item_id", "left_anti"))
        first = unknown.orderBy("ordinal").select("item_id", "ordinal").limit(1).collect()
        if first:
            problems.append(RowProblem("unknown", int(first[0][1]), unknown.count(), first[0][0]))
    return problems


def duplicates(df, eng_map) -> RowProblem:
    from pyspark.sql import functions as F
    keyed = df.join(F.broadcast(eng_map), df["engagement"].eqNullSafe(eng_map["raw"]), "left")
    groups = (keyed.groupBy("user_id", "item_id", "timestamp", "norm")
              .agg(F.count("*").alias("n"), F.sort_array(F.collect_list("ordinal")).alias("o"))
              .filter(F.col("n") > 1))
    r = groups.agg(F.sum(F.col("n") - 1), F.min(F.col("o")[1])).collect()[0]
    return RowProblem("duplicate", int(r[1] or 0), int(r[0] or 0))


# ---------------------------------------------------------------- the kernel inside Spark

def _events(table: pa.Table, vocabs: dict) -> Events:
    """A sorted Arrow table of whole users (Spark batch) -> kernel Events."""
    users = table["user_id"].combine_chunks()
    new = np.r_[True, np.asarray(pc.not_equal(users[1:], users[:-1]))] if len(users) else np.zeros(0, bool)
    user = (np.cumsum(new) - 1).astype(np.int32)
    eng = pc.index_in(pc.coalesce(table["engagement"], pa.scalar("play")).combine_chunks(),
                      value_set=vocabs["raw_eng"]).to_numpy(zero_copy_only=False)
    dev = pc.index_in(table["device"], value_set=vocabs["devices"]).fill_null(-1).to_numpy(zero_copy_only=False)
    num = lambda c: pc.cast(table[c], pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)  # noqa: E731
    return Events(user, users.filter(pa.array(new)), table["timestamp"].to_numpy(zero_copy_only=False),
                  table["item"].to_numpy(zero_copy_only=False).astype(np.int32),
                  vocabs["eng_code"][eng].astype(np.int32), vocabs["engagements"], dev.astype(np.int32),
                  vocabs["devices"], num("duration_min"), num("rating"))


def _whole_users(batches, size: int):
    """Re-cut a partition's batches (sorted by user) into tables of whole users."""
    buf, n = [], 0
    for b in batches:
        buf.append(b)
        n += b.num_rows
        if n >= size:
            t = pa.Table.from_batches(buf)
            users = t["user_id"]
            last = users[t.num_rows - 1]
            cut = t.num_rows - int(pc.sum(pc.equal(users, last)).as_py())
            if cut > 0:
                yield t.slice(0, cut)
                rest = t.slice(cut)
                buf, n = rest.to_batches(), rest.num_rows
    if n:
        yield pa.Table.from_batches(buf)


def _transport(block: kernel.Block) -> pa.RecordBatch:
    t = block.table
    cols = [pa.ListArray.from_arrays(t[f.name].combine_chunks().offsets, t[f.name].combine_chunks().values.indices)
            if f.name in DICT_LISTS else t[f.name].combine_chunks() for f in WRITE_SCHEMA]
    return pa.RecordBatch.from_arrays(cols + [pa.nulls(t.num_rows, pa.string())], schema=_TRANSPORT)


def _stats_batch(block: kernel.Block) -> pa.RecordBatch:
    doc = {"counts": block.counts, "dropped": block.dropped, "users": block.users,
           "users_with_tasks": block.users_with_tasks, "leaks": block.leaks, "digest": str(block.digest)}
    cols = [pa.nulls(1, f.type) for f in _TRANSPORT][:-1] + [pa.array([json.dumps(doc)])]
    return pa.RecordBatch.from_arrays(cols, schema=_TRANSPORT)


def _task_udf(ctx: Context, vocabs: dict):
    def run(batches):
        for table in _whole_users(batches, BLOCK_EVENTS):
            block = kernel.build_block(_events(table, vocabs), ctx)
            if block.table is not None and block.table.num_rows:
                yield _transport(block)
            yield _stats_batch(block)
    return run


def _stats_udf(ctx: Context, vocabs: dict, pairs: bool):
    def run(batches):
        for table in _whole_users(batches, BLOCK_EVENTS):
            counts, pc_ = kernel.training_stats(_events(table, vocabs), ctx, pairs)
            nz = np.flatnonzero(counts)
            yield pa.RecordBatch.from_pydict({"a": nz.astype(np.int32), "b": np.full(len(nz), -1, np.int32),
                                              "n": counts[nz].astype(np.float64)})
            if pc_ is not None:
                m = pc_[0].tocoo()
                yield pa.RecordBatch.from_pydict({"a": m.row.astype(np.int32), "b": m.col.astype(np.int32),
                                                  "n": m.data.astype(np.float64)})
                fz = np.flatnonzero(pc_[1])
                yield pa.RecordBatch.from_pydict({"a": fz.astype(np.int32), "b": np.full(len(fz), -2, np.int32),
                                                  "n": pc_[1][fz].astype(np.float64)})
    return run


def _training_stats(sorted_df, ctx: Context, vocabs: dict) -> None:
    import scipy.sparse as sp
    if ctx.protocol.negatives == "uniform":
        return
    pairs = ctx.protocol.negatives == "cooccurrence"
    t = sorted_df.mapInArrow(_stats_udf(ctx, vocabs, pairs), "a int, b int, n double").groupBy("a", "b").sum("n").toArrow()
    a, b, n = (t.column(i).to_numpy() for i in range(3))
    counts = np.zeros(ctx.n_items, np.int64)
    counts[a[b == -1]] = n[b == -1].astype(np.int64)
    pair_sum = freq = None
    if pairs:
        m = b >= 0
        order = np.lexsort((b[m], a[m]))  # one canonical sparse matrix whatever the partitioning
        pair_sum = sp.csr_matrix((n[m][order], (a[m][order], b[m][order])), shape=(ctx.n_items, ctx.n_items))
        freq = np.zeros(ctx.n_items, np.int64)
        freq[a[b == -2]] = n[b == -2].astype(np.int64)
    finish_training_stats(ctx, counts, pair_sum, freq)


# ---------------------------------------------------------------- the build

def _vocabs(df, spark) -> tuple[dict, object]:
    raw = [r[0] for r in df.select("engagement").distinct().collect()]
    norm = sorted({normalize_engagement(v) for v in raw})
    raw_list = sorted({v if v is not None else "play" for v in raw} | {"play"})
    eng_map = spark.createDataFrame([(v, normalize_engagement(v)) for v in raw], "raw string, norm string")
    devices = sorted(r[0] for r in df.select("device").distinct().collect() if r[0] is not None)
    vocabs = {"raw_eng": pa.array(raw_list, pa.string()), "engagements": pa.array(norm, pa.string()),
              "eng_code": np.array([norm.index(normalize_engagement(v)) for v in raw_list], np.int32),
              "devices": pa.array(devices, pa.string())}
    return vocabs, eng_map


def _source(source, tmp: Path) -> LogFiles:
    if isinstance(source, EventLog):  # an in-memory log: hand Spark a Parquet copy
        path = tmp / "events.parquet"
        pq.write_table(pa.Table.from_pandas(source.events, preserve_index=False), path)
        log = resolve(path)
        log.catalog, log.name = source.catalog, source.name
        return log
    return resolve(source)


def build_to_folder(source, protocol: TaskProtocol, out: str | Path) -> dict:
    """Logs -> task folder with Spark; the same files as ``build.build_to_folder``."""
    from pyspark.sql import functions as F
    from ..logs.schema import catalog_from_events
    from .store import write_side_files
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".spark-", dir=out))
    try:
        log = _source(source, tmp)  # schema errors come before Spark starts
        spark = session()
        df = _read(spark, log).cache()
        cat_df = None
        if log.catalog is not None:
            ids = sorted(log.catalog["item_id"].astype(str))
            cat_df = spark.createDataFrame([(i, k) for k, i in enumerate(ids)], "item_id string, item int")
        vocabs, eng_map = _vocabs(df, spark)
        problems = row_problems(df, eng_map, cat_df)
        raise_row_problem(problems, log.files, log.rows, log.name)
        raise_row_problem([duplicates(df, eng_map)], log.files, log.rows, log.name)
        if cat_df is None:
            ids = sorted(r[0] for r in df.select("item_id").distinct().collect())
            cat_df = spark.createDataFrame([(i, k) for k, i in enumerate(ids)], "item_id string, item int")
            catalog = catalog_from_events(__import__("pandas").DataFrame({"item_id": ids}))
        else:
            catalog = log.catalog
        check_catalog_size(protocol, len(ids))
        ctx = Context(protocol, pa.array(ids, pa.string()))
        if protocol.split == "time":
            t = df.groupBy("timestamp").count().orderBy("timestamp").toArrow()
            ctx.cutoffs = time_cutoffs(t["timestamp"].to_numpy(), t["count"].to_numpy(), protocol.time_fractions)
        parts = int(os.environ.get("VERBALREC_SPARK_PARTITIONS", 0)) or max(1, sum(log.rows) // 2_000_000)
        coded = df.join(F.broadcast(cat_df), "item_id").drop("item_id")
        ordered = coded.repartitionByRange(parts, "user_id").sortWithinPartitions("user_id", "timestamp", "ordinal")
        _training_stats(ordered, ctx, vocabs)
        ordered.mapInArrow(_task_udf(ctx, vocabs), _SPARK_SCHEMA).write.mode("overwrite").parquet(str(tmp / "tasks"))
        files = sorted((tmp / "tasks").glob("part-*.parquet"))
        totals = _totals(files)
        totals.check(protocol)
        n = write_tasks_file(out / "tasks.parquet", _tables(files, ctx, vocabs))
        return write_side_files(out, catalog, totals.meta(protocol, log.name), n, sum(log.rows))
    except Exception as err:  # Spark wraps errors raised in Python workers; unwrap ours
        raise _unwrap(err) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _unwrap(err: Exception) -> Exception:
    if isinstance(err, InputError):
        return err
    for line in str(err).splitlines():
        if "InputError: " in line or "LeakageError: " in line:
            return InputError(line.split("Error: ", 1)[1])
    return err


def _totals(files: list[Path]) -> Totals:
    totals = Totals()
    for f in files:
        col = pq.read_table(f, columns=["_stats"])["_stats"].drop_null()
        for doc in col.to_pylist():
            d = json.loads(doc)
            totals.add(kernel.Block(None, d["counts"], d["dropped"], d["users"], d["users_with_tasks"],
                                    [tuple(x) for x in d["leaks"]], int(d["digest"])))
    return totals


def _tables(files: list[Path], ctx: Context, vocabs: dict):
    """Transport rows -> write form, in partition order."""
    dicts = {"candidates": ctx.item_ids, "hist_item": ctx.item_ids, "hist_engagement": vocabs["engagements"],
             "hist_device": vocabs["devices"]}
    for f in files:
        pf = pq.ParquetFile(f)
        for i in range(pf.num_row_groups):
            t = pf.read_row_group(i)
            t = t.filter(pc.is_null(t["_stats"]))
            if not t.num_rows:
                continue
            cols = []
            for fld in WRITE_SCHEMA:
                c = t[fld.name].combine_chunks()
                if fld.name in DICT_LISTS:
                    c = pa.ListArray.from_arrays(c.offsets, pa.DictionaryArray.from_arrays(c.flatten(), dicts[fld.name]))
                cols.append(c.cast(fld.type) if fld.name not in DICT_LISTS else c)
            yield pa.Table.from_arrays(cols, schema=WRITE_SCHEMA)
