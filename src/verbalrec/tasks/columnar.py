"""The single-node engine: Parquet (or an EventLog) -> numpy/Arrow columns -> kernel -> task file.

String columns are read as Parquet dictionaries and turned into integer codes (users and items
in sorted id order), so no per-event Python object is ever made; the events are sorted by (user,
time, log order) unless they already are, cut into blocks of whole users, and each block goes
through ``kernel.build_block``. Tasks stream into the writer, so the output never sits in memory.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import LeakageError
from ..logs.schema import TS_MAX, TS_MIN, EventLog
from . import kernel
from .kernel import Context, Events
from .protocol import TaskProtocol, check_catalog_size, check_kept, no_test_tasks
from .source import LogFiles, RowProblem, normalize_engagement, raise_row_problem

BLOCK_EVENTS = 1_000_000
#: Logs with more events stream: spilled to user-range buckets on disk, built one bucket at a time.
STREAM_EVENTS = 16_000_000
#: Seconds per step of a build (bench/tasks_steps.py prints them).
TIMINGS: dict[str, float] = {}


def _lap(name: str, t0: float) -> float:
    t = time.perf_counter()
    TIMINGS[name] = TIMINGS.get(name, 0.0) + t - t0
    return t


# ---------------------------------------------------------------- reading into codes

def _dictionary(col: pa.ChunkedArray) -> list[pa.DictionaryArray]:
    out = []
    for chunk in col.chunks:
        if pa.types.is_integer(chunk.type):
            chunk = pc.cast(chunk, pa.string())
        out.append(chunk if pa.types.is_dictionary(chunk.type) else pc.dictionary_encode(chunk))
    return out


def _encode(chunks: list[pa.DictionaryArray], vocab: pa.Array | None, normalize=None
            ) -> tuple[np.ndarray, pa.Array]:
    """Codes into ``vocab`` (sorted distinct values when None); -1 = null or not in vocab.

    Parquet gives every row group its own dictionary and every read batch of it the same one:
    each distinct dictionary is looked up once, then one gather per chunk."""
    dicts, which = [], []
    for c in chunks:  # consecutive chunks of one row group share their dictionary
        if not dicts or not (c.dictionary is dicts[-1] or c.dictionary.equals(dicts[-1])):
            dicts.append(c.dictionary)
        which.append(len(dicts) - 1)
    words = [d.cast(pa.string()) for d in dicts]
    if normalize is not None:
        words = [pa.array([normalize(v) for v in d.to_pylist()], pa.string()) for d in words]
    if vocab is None:
        vocab = pc.unique(pa.concat_arrays(words)) if words else pa.array([], pa.string())
        vocab = vocab.take(pc.sort_indices(vocab))
    maps = [pc.index_in(w, value_set=vocab).fill_null(-1).to_numpy().astype(np.int32) for w in words]
    out = np.empty(sum(len(c) for c in chunks), np.int32)
    a = 0
    for c, k in zip(chunks, which):
        m, b = maps[k], a + len(c)
        idx = c.indices.to_numpy(zero_copy_only=False) if not c.null_count else c.indices.fill_null(0).to_numpy()
        if len(m):
            np.take(m, idx, out=out[a:b])
        else:
            out[a:b] = -1
        if c.null_count:
            out[a:b][np.asarray(c.is_null())] = -1
        a = b
    return out, vocab


@dataclass
class Columns:
    """The whole log (or a slice of users) as arrays, before sorting."""

    user: np.ndarray
    users: pa.Array
    timestamp: np.ndarray
    ts_null: np.ndarray
    item: np.ndarray
    item_null: np.ndarray
    items: pa.Array
    engagement: np.ndarray
    engagements: pa.Array
    device: np.ndarray
    devices: pa.Array
    duration: np.ndarray
    rating: np.ndarray


def _numbers(col: pa.ChunkedArray | None, n: int) -> np.ndarray:
    if col is None or col.null_count == len(col):
        return np.full(n, np.nan)
    return pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def read_table(log: LogFiles) -> pa.Table:
    """The needed columns of every file, string columns as dictionaries, hive values filled in."""
    tables = []
    for f, part, n in zip(log.files, log.hive, log.rows):
        names = pq.read_schema(f).names
        cols = [c for c in log.columns if c in names]
        t = pq.read_table(f, columns=cols, read_dictionary=[c for c in cols if c in ("user_id", "item_id", "engagement", "device")])
        for c in log.columns:
            if c not in names:
                t = t.append_column(c, pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([part[c]])))
        tables.append(t.select(log.columns))
    return pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]


def columns_of(table: pa.Table, item_vocab: pa.Array | None, vocabs: dict | None = None) -> Columns:
    """Codes of a table's events; ``vocabs`` (users, engagements with "play", devices) fixes the
    codes of a piece of a streamed log, else they are the table's own sorted values. The
    columns are coded by parallel threads (Arrow and numpy release the GIL)."""
    n = table.num_rows
    vocabs = vocabs or {}
    get = lambda c: table[c] if c in table.column_names else None  # noqa: E731

    def engagement():
        if get("engagement") is not None and not pa.types.is_null(table["engagement"].type):
            eng, engs = _encode(_dictionary(table["engagement"]), vocabs.get("engagement"), normalize_engagement)
            if (eng < 0).any():  # missing engagement -> play
                engs = engs if "play" in engs.to_pylist() else pa.concat_arrays([engs, pa.array(["play"])])
                eng[eng < 0] = engs.to_pylist().index("play")
            return eng, engs
        engs = vocabs.get("engagement", pa.array(["play"]))
        return np.full(n, engs.to_pylist().index("play"), np.int32), engs

    def device():
        if get("device") is not None and not pa.types.is_null(table["device"].type):
            return _encode(_dictionary(table["device"]), vocabs.get("device"))
        return np.full(n, -1, np.int32), vocabs.get("device", pa.array([], pa.string()))

    def timestamp():
        ts = table["timestamp"]
        return pc.cast(ts, pa.int64()).fill_null(0).to_numpy(zero_copy_only=False), ts.is_null().to_numpy(zero_copy_only=False)

    jobs = [lambda: _encode(_dictionary(table["user_id"]), vocabs.get("user_id")),
            lambda: _encode(_dictionary(table["item_id"]), item_vocab),
            lambda: table["item_id"].is_null().to_numpy(zero_copy_only=False),
            engagement, device, timestamp,
            lambda: _numbers(get("duration_min"), n), lambda: _numbers(get("rating"), n)]
    from .writer import threads
    with ThreadPoolExecutor(min(threads(), len(jobs))) as pool:
        (user, users), (item, items), item_null, (eng, engs), (dev, devs), (ts, ts_null), dur, rating = \
            [f.result() for f in [pool.submit(j) for j in jobs]]
    return Columns(user, users, ts, ts_null, item, item_null, items, eng, engs, dev, devs, dur, rating)


# ---------------------------------------------------------------- row checks and order

def _first(check: str, bad: np.ndarray, ordinal: np.ndarray | None = None, value: str = "") -> RowProblem:
    idx = np.flatnonzero(bad)
    if not len(idx):
        return RowProblem(check, 0, 0)
    first = int(idx[0]) if ordinal is None else int(ordinal[idx].min())
    return RowProblem(check, first, len(idx), value)


def row_problems(c: Columns, has_catalog: bool) -> list[RowProblem]:
    empty_user = np.flatnonzero(np.asarray(c.users.to_pylist(), dtype=object) == "")
    empty_item = np.flatnonzero(np.asarray(c.items.to_pylist(), dtype=object) == "")
    problems = [_first("user_id", (c.user < 0) | np.isin(c.user, empty_user) if len(empty_user) else c.user < 0),
                _first("item_id", c.item_null | np.isin(c.item, empty_item) if len(empty_item) else c.item_null),
                _first("timestamp", c.ts_null),
                _out_of_range(c.timestamp, c.ts_null),
                _first("duration", c.duration < 0)]
    if has_catalog:
        unknown = (c.item < 0) & ~c.item_null
        if unknown.any():
            problems.append(_first("unknown", unknown, value=""))
    return problems


def _out_of_range(ts: np.ndarray, null: np.ndarray) -> RowProblem:
    bad = ~null & ((ts < TS_MIN) | (ts > TS_MAX))
    return _first("timestamp_range", bad, value=str(ts[np.flatnonzero(bad)[0]]) if bad.any() else "")


def sort_order(user: np.ndarray, ts: np.ndarray) -> np.ndarray | None:
    """Stable (user, time) order, or None when the events are already in it."""
    du, dt = np.diff(user), np.diff(ts)
    if ((du > 0) | ((du == 0) & (dt >= 0))).all():
        return None
    return np.lexsort((ts, user))


def duplicates(user, ts, item, eng, ordinal) -> RowProblem:
    """Later copies of an event (user, item, timestamp, engagement); events are sorted."""
    same = np.r_[False, (user[1:] == user[:-1]) & (ts[1:] == ts[:-1])]
    cand = np.flatnonzero(same | np.r_[same[1:], False])  # members of (user, time) runs of 2+
    if not len(cand):
        return RowProblem("duplicate", 0, 0)
    keys = np.stack([user[cand], ts[cand], item[cand], eng[cand], ordinal[cand]]).T
    keys = keys[np.lexsort(keys.T[::-1])]
    dup = np.r_[False, (keys[1:, :4] == keys[:-1, :4]).all(axis=1)]
    return _first("duplicate", dup, keys[:, 4])


# ---------------------------------------------------------------- the build

@dataclass
class Prepared:
    """Sorted arrays of the whole log (or, streamed, its buckets) and the context every block needs."""

    events: Events | None
    ctx: Context
    catalog: object
    name: str
    n_events: int
    buckets: object = None   # stream.Buckets: sorted user ranges loaded one at a time

    def parts(self) -> Iterator[Events]:
        """The log's events in user order, one part in memory at a time."""
        if self.buckets is None:
            yield self.events
        else:
            yield from self.buckets.parts()

    def finish(self) -> None:
        """The checks that a streamed log can only make after its last bucket; then clean up."""
        if self.buckets is not None:
            self.buckets.finish()


def _catalog_ids(catalog) -> pa.Array:
    ids = pa.array(catalog["item_id"].astype(str).tolist(), pa.string())
    return ids.take(pc.sort_indices(ids))


def prepare(source, protocol: TaskProtocol) -> Prepared:
    """Read, check, sort and compute the global context (the whole log in memory as codes)."""
    from ..logs.schema import catalog_from_events
    t = time.perf_counter()
    if not isinstance(source, EventLog) and sum(source.rows) > STREAM_EVENTS:
        from .stream import prepare_streamed
        return prepare_streamed(source, protocol)
    if isinstance(source, EventLog):
        table, catalog, files, rows, name = pa.Table.from_pandas(source.events, preserve_index=False), \
            source.catalog, [], [], source.name
    else:
        table, catalog, files, rows, name = read_table(source), source.catalog, source.files, source.rows, source.name
    t = _lap("read Parquet", t)
    vocab = _catalog_ids(catalog) if catalog is not None else None
    c = columns_of(table, vocab)
    t = _lap("codes (users, items, engagements, devices)", t)
    problems = row_problems(c, vocab is not None)
    for prob in problems:
        if prob.check == "unknown":
            prob.value = str(table["item_id"][prob.ordinal].as_py())
    del table
    raise_row_problem(problems, files, rows, name)
    if catalog is None:
        import pandas as pd
        catalog = catalog_from_events(pd.DataFrame({"item_id": c.items.to_pylist()}))
    ordinal = np.arange(len(c.user), dtype=np.int64)
    order = sort_order(c.user, c.timestamp)
    arrays = [c.user, c.timestamp, c.item, c.engagement, c.device, c.duration, c.rating, ordinal]
    if order is not None:
        arrays = [a[order] for a in arrays]
    user, ts, item, eng, dev, dur, rating, ordinal = arrays
    raise_row_problem([duplicates(user, ts, item, eng, ordinal)], files, rows, name)
    t = _lap("row checks, sort, duplicates", t)
    check_catalog_size(protocol, len(catalog))  # after the row checks, before any task is built
    ev = Events(user, c.users, ts, item, eng, c.engagements, dev, c.devices, dur, rating)
    ctx = Context(protocol, c.items)
    if protocol.split == "time":
        values, counts = np.unique(ts, return_counts=True)
        ctx.cutoffs = time_cutoffs(values, counts, protocol.time_fractions)
    _lap("context", t)
    return Prepared(ev, ctx, catalog, name, len(ts))


def time_cutoffs(values: np.ndarray, counts: np.ndarray, fractions) -> tuple[float, float]:
    """np.quantile(all timestamps, [f0, f0 + f1]) from (distinct value, count) pairs."""
    ends = np.cumsum(counts)
    n = int(ends[-1])
    out = []
    for q in (fractions[0], fractions[0] + fractions[1]):
        virtual = q * (n - 1)
        lo = int(np.floor(virtual))
        hi = min(lo + 1, n - 1)
        a, b = values[np.searchsorted(ends, lo, side="right")], values[np.searchsorted(ends, hi, side="right")]
        out.append(float(np.quantile(np.array([a, b], dtype=np.int64), virtual - lo)))
    return out[0], out[1]


def slice_events(ev: Events, a: int, b: int) -> Events:
    u0 = int(ev.user[a])
    u = ev.user[a:b] - u0
    return Events(u, ev.users.slice(u0, int(u[-1]) + 1), ev.timestamp[a:b], ev.item[a:b], ev.engagement[a:b],
                  ev.engagements, ev.device[a:b], ev.devices, ev.duration[a:b], ev.rating[a:b])


def blocks(ev: Events, size: int | None = None) -> Iterator[Events]:
    """Cut at user boundaries into blocks of about ``size`` (default BLOCK_EVENTS) events."""
    size = size or BLOCK_EVENTS
    starts = np.flatnonzero(np.r_[True, ev.user[1:] != ev.user[:-1]])
    cuts = np.unique(starts[np.minimum(np.searchsorted(starts, np.arange(0, len(ev), size)), len(starts) - 1)])
    for a, b in zip(cuts, np.r_[cuts[1:], len(ev)]):
        yield slice_events(ev, int(a), int(b))


def add_training_stats(ctx: Context, parts: Iterator[Events]) -> None:
    """Popularity CDF (and the co-occurrence retriever) from the training-period events."""
    p = ctx.protocol
    if p.negatives == "uniform":
        return
    pairs = p.negatives == "cooccurrence"
    counts, pair_sum, freq = np.zeros(ctx.n_items, np.int64), None, None
    for ev in parts:
        c, pc_ = kernel.training_stats(ev, ctx, pairs)
        counts += c
        if pc_ is not None:
            pair_sum = pc_[0] if pair_sum is None else pair_sum + pc_[0]
            freq = pc_[1] if freq is None else freq + pc_[1]
    finish_training_stats(ctx, counts, pair_sum, freq)


def finish_training_stats(ctx: Context, counts: np.ndarray, pair_sum, freq) -> None:
    weights = (counts.astype(float) + 1.0) ** ctx.protocol.popularity_power  # +1: unseen items stay possible
    ctx.cdf = np.cumsum(weights) / weights.sum()
    if ctx.protocol.negatives == "cooccurrence":
        from .cooccurrence import CoOccurrence
        ctx.retriever = CoOccurrence(ctx.n_items).fit_counts(pair_sum, freq)


class Totals:
    """What the blocks add up to: counts, drops, users, leaks, the data digest."""

    def __init__(self):
        self.counts = dict.fromkeys(kernel.SPLIT_NAMES, 0)
        self.dropped = self.users = self.users_with_tasks = self.digest = 0
        self.leak = None
        self.leaks = 0

    def add(self, b: kernel.Block) -> None:
        for k, v in b.counts.items():
            self.counts[k] += v
        self.dropped += b.dropped
        self.users += b.users
        self.users_with_tasks += b.users_with_tasks
        self.digest = (self.digest + b.digest) % 2**64
        for leak in b.leaks:
            self.leak = self.leak or leak
            self.leaks += leak[3]

    def check(self, p: TaskProtocol) -> None:
        """The build's global refusals, the same for every engine."""
        if self.leak is not None:
            _, task, split, _ = self.leak
            raise LeakageError(f"task {task}: a {split} target appears in a training task ({self.leaks} targets)",
                               file="tasks", field="split",
                               fix="split by time so training tasks end before evaluation targets")
        if not self.counts["test"] and not self.dropped:
            raise no_test_tasks(p)
        check_kept(self.counts, self.dropped, p)

    def meta(self, p: TaskProtocol, name: str) -> dict:
        return {"protocol": p.to_dict(), "counts": dict(self.counts), "log": name,
                "data_hash": f"{self.digest:016x}", "dropped_no_negatives": self.dropped,
                "users_with_tasks": self.users_with_tasks, "users": self.users}


def _build_block(ev: Events, ctx: Context) -> kernel.Block:
    t = time.perf_counter()
    b = kernel.build_block(ev, ctx)
    _lap("kernel (all blocks)", t)
    return b


def task_tables(prep: Prepared, totals: Totals, workers: int | None = None) -> Iterator[pa.Table]:
    """The tasks of every block in order; the global checks run after the last block.

    Blocks are built by ``workers`` threads (default: the cores this process may use; numpy and
    Arrow release the GIL in their loops); their results are taken, and added up, in order."""
    from .writer import threads
    workers = workers or threads()
    try:
        t = time.perf_counter()
        if prep.ctx.protocol.negatives != "uniform":
            add_training_stats(prep.ctx, (b for part in prep.parts() for b in blocks(part)))
        _lap("training stats", t)
        with ThreadPoolExecutor(workers) as pool:
            pending: deque = deque()

            def done():
                b = pending.popleft().result()
                totals.add(b)
                return b.table if b.table is not None and b.table.num_rows else None

            for part in prep.parts():
                for ev in blocks(part):
                    pending.append(pool.submit(_build_block, ev, prep.ctx))
                    while len(pending) >= workers:
                        if (table := done()) is not None:
                            yield table
            while pending:
                if (table := done()) is not None:
                    yield table
        prep.finish()
    finally:
        if prep.buckets is not None:
            prep.buckets.close()
    totals.check(prep.ctx.protocol)
