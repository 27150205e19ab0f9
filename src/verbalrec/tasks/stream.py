"""Logs larger than memory: the columnar engine in three passes over the Parquet files.

1. vocabularies: the distinct user ids (with their event counts), engagements, devices and, for
   a log without a catalog, items -- from the row groups' dictionaries, no per-event string;
2. spill: each row group is read, coded and checked (the row checks of the in-memory path, with
   global row numbers), its timestamps counted for the time split, and its events appended to
   the bucket of their user range (raw column files in a temporary folder);
3. build: bucket after bucket (user order), load, sort by (user, time, log order), check for
   duplicates, and hand the blocks to the kernel; the tasks stream into the writer.

Memory is one row group in pass 2 and one bucket in pass 3, whatever the log's size; the tasks,
the checks and their messages are those of the in-memory path (the bucket cut does not change a
byte: tasks depend only on their user's events and the global context).
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import columnar
from .columnar import (
    Prepared,
    _dictionary,
    _lap,
    columns_of,
    duplicates,
    row_problems,
    sort_order,
)
from .kernel import Context, Events
from .protocol import TaskProtocol, check_catalog_size
from .source import (
    STRING_COLUMNS,
    LogFiles,
    RowProblem,
    normalize_engagement,
    raise_row_problem,
)

#: Events per bucket: what pass 3 holds in memory at once.
BUCKET_EVENTS = 4_000_000
_COLUMNS = (("user", np.int32), ("timestamp", np.int64), ("item", np.int32), ("engagement", np.int32),
            ("device", np.int32), ("duration", np.float64), ("rating", np.float64), ("ordinal", np.int64))


def pieces(log: LogFiles, columns: list[str]) -> Iterator[pa.Table]:
    """The log's row groups in log order (files in order), only ``columns`` (those of the log),
    strings as dictionaries, hive partition values filled in."""
    for f, part, n in zip(log.files, log.hive, log.rows):
        pf = pq.ParquetFile(f, read_dictionary=[c for c in columns if c in STRING_COLUMNS])
        names = pf.schema_arrow.names
        cols = [c for c in columns if c in names]
        for i in range(pf.num_row_groups):
            t = pf.read_row_group(i, columns=cols)
            for c in columns:
                if c not in names:
                    t = t.append_column(c, pa.DictionaryArray.from_arrays(
                        pa.array(np.zeros(t.num_rows, np.int32)), pa.array([part[c]])))
            yield t.select(columns)


def _distinct(words: list[pa.Array], counts: list[np.ndarray] | None = None):
    """Sorted distinct strings of ``words`` (and the summed counts of each, when given)."""
    if not words:
        return pa.array([], pa.string()), np.zeros(0, np.int64)
    allw = pa.concat_arrays([w.cast(pa.string()) for w in words])
    order = np.asarray(pc.sort_indices(allw))
    sw = allw.take(pa.array(order))
    new = np.r_[True, np.asarray(pc.not_equal(sw.slice(1), sw.slice(0, len(sw) - 1)).fill_null(True))] \
        if len(sw) else np.zeros(0, bool)
    vocab = sw.filter(pa.array(new))
    if counts is None:
        return vocab, None
    c = np.concatenate(counts)[order]
    return vocab, np.add.reduceat(c, np.flatnonzero(new)) if len(c) else c


def vocabularies(log: LogFiles, items: bool) -> tuple[dict, np.ndarray, pa.Array | None]:
    """Pass 1: {user_id, engagement, device} vocabularies, events per user, items (no catalog)."""
    want = ["user_id"] + [c for c in ("engagement", "device") if c in log.columns] + (["item_id"] if items else [])
    seen: dict[str, list] = {c: [] for c in want}
    user_counts: list[np.ndarray] = []
    for t in pieces(log, want):
        for c in want:
            if pa.types.is_null(t[c].type):
                continue
            for chunk in _dictionary(t[c]):
                d = chunk.dictionary
                if c == "user_id":
                    idx = chunk.indices.fill_null(-1).to_numpy()
                    user_counts.append(np.bincount(idx[idx >= 0], minlength=len(d)))
                    seen[c].append(d)
                elif not seen[c] or not (d is seen[c][-1] or d.equals(seen[c][-1])):
                    seen[c].append(d)
    users, counts = _distinct(seen["user_id"], user_counts)
    engs = [pa.array([normalize_engagement(v) for v in d.to_pylist()], pa.string()) for d in seen.get("engagement", [])]
    engs, _ = _distinct(engs + [pa.array(["play"])])
    vocabs = {"user_id": users, "engagement": engs, "device": _distinct(seen.get("device", []))[0]}
    return vocabs, counts, (_distinct(seen["item_id"])[0] if items else None)


class Buckets:
    """Pass 2's spill: the events of consecutive user ranges, one folder of column files each."""

    def __init__(self, user_counts: np.ndarray, size: int):
        ends = np.cumsum(user_counts)
        cuts = np.unique(np.searchsorted(ends, np.arange(size, int(ends[-1]), size), side="left") + 1) \
            if len(ends) else np.zeros(0, np.int64)
        self.first_user = np.r_[0, cuts[cuts < len(user_counts)]].astype(np.int64)  # first user code of each
        self.dir = Path(tempfile.mkdtemp(prefix="verbalrec-spill-", dir=os.environ.get("VERBALREC_SPILL_DIR")))
        self.files = [[open(self.dir / f"{b}.{name}", "wb") for name, _ in _COLUMNS] for b in range(len(self.first_user))]  # noqa: SIM115 (closed in close_files)
        self.dup: RowProblem = RowProblem("duplicate", 0, 0)
        self.where: tuple = ()
        self.checked = False

    def add(self, arrays: list[np.ndarray]) -> None:
        user = arrays[0]
        order = np.argsort(np.searchsorted(self.first_user, user, side="right") - 1, kind="stable")
        bucket = np.searchsorted(self.first_user, user[order], side="right") - 1
        bounds = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1], True])
        for a, b in itertools.pairwise(bounds):
            idx = order[a:b]
            for f, arr, (_, dtype) in zip(self.files[bucket[a]], arrays, _COLUMNS):
                arr[idx].astype(dtype, copy=False).tofile(f)

    def close_files(self) -> None:
        for fs in self.files:
            for f in fs:
                f.close()

    def parts(self) -> Iterator[Events]:
        """Pass 3: each bucket sorted as the in-memory path sorts the whole log."""
        for b in range(len(self.first_user)):
            t = time.perf_counter()
            cols = [np.fromfile(self.dir / f"{b}.{name}", dtype=dtype) for name, dtype in _COLUMNS]
            order = sort_order(cols[0], cols[1])
            if order is not None:
                cols = [c[order] for c in cols]
            user, ts, item, eng, dev, dur, rating, ordinal = cols
            dup = duplicates(user, ts, item, eng, ordinal) if not self.checked else RowProblem("duplicate", 0, 0)
            if dup.count:
                self.dup = RowProblem("duplicate", min(dup.ordinal, self.dup.ordinal) if self.dup.count else dup.ordinal,
                                      self.dup.count + dup.count)
            u = self.ctx_users
            _lap("stream: load + sort + duplicates (pass 3)", t)
            yield Events(user, u, ts, item, eng, self.engagements, dev, self.devices, dur, rating)
        self.checked = True  # every bucket's duplicates are counted once, on the first whole pass

    def finish(self) -> None:
        raise_row_problem([self.dup], *self.where)

    def close(self) -> None:
        self.close_files()
        shutil.rmtree(self.dir, ignore_errors=True)


def _merge(problems: dict, found: list[RowProblem], offset: int) -> None:
    for p in found:
        if not p.count:
            continue
        old = problems.get(p.check)
        if old is None:
            problems[p.check] = RowProblem(p.check, p.ordinal + offset, p.count, p.value)
        else:
            old.count += p.count


def prepare_streamed(log: LogFiles, protocol: TaskProtocol) -> Prepared:
    """Passes 1 and 2; the returned ``Prepared`` loads the buckets in pass 3."""
    from ..logs.schema import catalog_from_events
    t = time.perf_counter()
    catalog = log.catalog
    vocab = columnar._catalog_ids(catalog) if catalog is not None else None
    vocabs, user_counts, items = vocabularies(log, vocab is None)
    item_vocab = vocab if vocab is not None else items
    t = _lap("stream: vocabularies (pass 1)", t)
    buckets = Buckets(user_counts, BUCKET_EVENTS)
    try:
        problems: dict[str, RowProblem] = {}
        times: list[tuple[np.ndarray, np.ndarray]] = []
        offset = 0
        for piece in pieces(log, log.columns):
            c = columns_of(piece, item_vocab, vocabs)
            found = row_problems(c, vocab is not None)
            for p in found:
                if p.check == "unknown" and p.count:
                    p.value = str(piece["item_id"][p.ordinal].as_py())
            _merge(problems, found, offset)
            n = piece.num_rows
            if not problems:
                buckets.add([c.user, c.timestamp, c.item, c.engagement, c.device, c.duration, c.rating,
                             np.arange(offset, offset + n, dtype=np.int64)])
                if protocol.split == "time":
                    times.append(np.unique(c.timestamp, return_counts=True))
            offset += n
        buckets.close_files()
        raise_row_problem(list(problems.values()), log.files, log.rows, log.name)
        if catalog is None:
            import pandas as pd
            catalog = catalog_from_events(pd.DataFrame({"item_id": item_vocab.to_pylist()}))
        buckets.where = (log.files, log.rows, log.name)
        buckets.ctx_users, buckets.engagements, buckets.devices = vocabs["user_id"], vocabs["engagement"], vocabs["device"]
        if protocol.n_candidates > len(catalog):  # the in-memory path reports duplicates first
            for _ in buckets.parts():
                pass
            buckets.finish()
        check_catalog_size(protocol, len(catalog))
        ctx = Context(protocol, item_vocab)
        if protocol.split == "time":
            values = np.concatenate([v for v, _ in times])
            counts = np.concatenate([k for _, k in times])
            order = np.argsort(values, kind="stable")
            values, counts = values[order], counts[order]
            new = np.r_[True, values[1:] != values[:-1]]
            ctx.cutoffs = columnar.time_cutoffs(values[new], np.add.reduceat(counts, np.flatnonzero(new)),
                                                protocol.time_fractions)
        _lap("stream: read, code, check, spill (pass 2)", t)
        return Prepared(None, ctx, catalog, log.name, offset, buckets)
    except BaseException:
        buckets.close()
        raise
