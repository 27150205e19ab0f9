"""Task files written the same way by every engine: byte-identical for the same tasks.

Rows are cut into row groups of ``ROW_GROUP`` tasks whatever the blocks were; within a row
group every item/engagement/device list is dictionary-encoded with its values sorted, so the
bytes depend only on the tasks. Parquet stores plain strings (the Arrow schema is not stored),
so any reader sees ``TASK_SCHEMA``.
"""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..atomic import atomic_path
from .schema import TASK_SCHEMA
from .stitch import Stitcher

ROW_GROUP = 32768
DICT_LISTS = ("candidates", "hist_item", "hist_engagement", "hist_device")
_DICT = pa.list_(pa.dictionary(pa.int32(), pa.string()))
WRITE_SCHEMA = pa.schema([pa.field(f.name, _DICT) if f.name in DICT_LISTS else f for f in TASK_SCHEMA])
_OPTIONS = dict(compression="lz4", use_dictionary=list(DICT_LISTS) + ["split"], store_schema=False,
                write_statistics=["task_id", "user_id", "split", "target_time"], data_page_version="2.0")


def _canonical_codes(idx: np.ndarray, dictionary: pa.Array) -> pa.DictionaryArray:
    """Codes into ``dictionary`` (-1 = null) -> dictionary = the sorted distinct values present."""
    has_null = bool(len(idx)) and int(idx.min()) < 0  # no mask pass when there is no null
    null = idx < 0 if has_null else None
    counts = np.bincount(idx + 1, minlength=len(dictionary) + 1)[1:] if has_null else \
        np.bincount(idx, minlength=len(dictionary))
    present = np.flatnonzero(counts)
    words = dictionary.take(pa.array(present))
    order = np.asarray(pc.sort_indices(words))
    remap = np.zeros(len(dictionary) + 1, np.int32)  # the last slot: what idx -1 (null) reads
    remap[present[order]] = np.arange(len(present), dtype=np.int32)
    new = pa.array(remap[idx], mask=null if has_null else None)
    return pa.DictionaryArray.from_arrays(new, words.take(pa.array(order)))


def _canonical(values: pa.Array) -> pa.DictionaryArray:
    """Dictionary-encode with the dictionary = the sorted distinct values present."""
    if not pa.types.is_dictionary(values.type):
        values = pc.dictionary_encode(values)
    return _canonical_codes(_codes(values), values.dictionary)


def _codes(values: pa.DictionaryArray) -> np.ndarray:
    idx = values.indices
    if idx.null_count:
        return np.where(np.asarray(idx.is_null()), -1, idx.fill_null(0).to_numpy()).astype(np.int32)
    return idx.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)


def _dict_list(col: pa.ChunkedArray | pa.ListArray) -> pa.ListArray:
    """One list<dictionary> array of a column's chunks, the dictionary canonical. Chunks that
    share one dictionary (the engines' item ids, engagements, devices) are joined as numpy codes;
    others are combined by Arrow first."""
    chunks = [c for c in (col.chunks if isinstance(col, pa.ChunkedArray) else [col]) if len(c)] or \
        [col.chunks[0] if isinstance(col, pa.ChunkedArray) and col.num_chunks else pa.array([], col.type)]
    flats = [c.flatten() for c in chunks]
    first = flats[0]
    same = pa.types.is_dictionary(first.type) and all(
        f.dictionary is first.dictionary or f.dictionary.equals(first.dictionary) for f in flats[1:])
    if not same:
        arr = pa.chunked_array(chunks, chunks[0].type).combine_chunks()
        offsets = np.asarray(arr.offsets) - np.asarray(arr.offsets)[0]
        return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), _canonical(arr.flatten()))
    offs, base = [np.zeros(1, np.int32)], 0
    for c in chunks:
        o = np.asarray(c.offsets)
        offs.append((o[1:] - o[0] + base).astype(np.int32))
        base += int(o[-1] - o[0])
    codes = np.concatenate([_codes(f) for f in flats]) if len(flats) > 1 else _codes(first)
    return pa.ListArray.from_arrays(pa.array(np.concatenate(offs)), _canonical_codes(codes, first.dictionary))


def write_form(table: pa.Table) -> pa.Table:
    """A task table (TASK_SCHEMA or WRITE_SCHEMA) as written: one chunk per column (page cuts
    follow chunks), canonical dictionaries."""
    cols = [_dict_list(table[f.name]) if f.name in DICT_LISTS else table[f.name].combine_chunks().cast(f.type)
            for f in WRITE_SCHEMA]
    return pa.Table.from_arrays(cols, schema=WRITE_SCHEMA)


def row_groups(tables: Iterable[pa.Table], size: int | None = None) -> Iterator[pa.Table]:
    """Re-cut a stream of tables into tables of exactly ``size`` (default ROW_GROUP) rows (the
    last may be shorter)."""
    size = size or ROW_GROUP
    buf, n = [], 0
    for t in tables:
        if t is None or not t.num_rows:
            continue
        buf.append(t)
        n += t.num_rows
        while n >= size:
            whole = pa.concat_tables(buf)
            yield whole.slice(0, size)
            rest = whole.slice(size)
            buf, n = ([rest] if rest.num_rows else []), rest.num_rows
    if n:
        yield pa.concat_tables(buf)


#: Seconds in the writer thread (bench/tasks_steps.py prints them).
TIMINGS: dict[str, float] = {}


def _write_group(writer: pq.ParquetWriter, group: pa.Table) -> None:
    t0 = time.perf_counter()
    form = write_form(group)
    t1 = time.perf_counter()
    writer.write_table(form, row_group_size=ROW_GROUP)
    t2 = time.perf_counter()
    _add("canonical dictionaries", t1 - t0)
    _add("Parquet encode + write", t2 - t1)


def _add(name: str, seconds: float) -> None:
    TIMINGS[name] = TIMINGS.get(name, 0.0) + seconds


def encode_group(group: pa.Table) -> pa.Buffer:
    """One row group as a whole one-row-group Parquet file, in memory (see stitch.py)."""
    t0 = time.perf_counter()
    form = write_form(group)
    t1 = time.perf_counter()
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, WRITE_SCHEMA, **_OPTIONS) as writer:
        writer.write_table(form, row_group_size=ROW_GROUP)
    buf = sink.getvalue()
    _add("canonical dictionaries", t1 - t0)
    _add("Parquet encode", time.perf_counter() - t1)
    return buf


def threads() -> int:
    """Worker threads of a build: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def write_tasks_file(path: str | Path, tables: Iterable[pa.Table], workers: int | None = None) -> int:
    """Write a stream of task tables (in task order) atomically; returns the number of rows.

    Row groups are encoded by ``workers`` threads (default: ``threads()``), each as its own
    in-memory Parquet file, and stitched in order into the file one writer would have written
    (same bytes: tests check it against ``write_tasks_file_serial``); ``tables`` is consumed
    in the calling thread meanwhile. At most ``max(workers, 2)`` row groups are in flight (peak
    RSS: each holds its tasks, their write form and its encoded bytes)."""
    workers = workers or threads()
    rows = 0
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f, ThreadPoolExecutor(workers) as pool:
            stitcher, pending = None, deque()
            for group in row_groups(tables):
                pending.append(pool.submit(encode_group, group))
                rows += group.num_rows
                while len(pending) >= max(workers, 2) or (pending and pending[0].done()):
                    stitcher = stitcher or Stitcher(f)
                    stitcher.add(pending.popleft().result())
            while pending:
                stitcher = stitcher or Stitcher(f)
                stitcher.add(pending.popleft().result())
            if stitcher is not None:
                stitcher.close()
        if not rows:  # no row group: the footer alone, as a writer writes it
            write_tasks_file_serial(tmp, [])
    return rows


def write_tasks_file_serial(path: str | Path, tables: Iterable[pa.Table]) -> int:
    """The same file through one ``ParquetWriter`` (its encoding in a second thread)."""
    rows = 0
    with pq.ParquetWriter(path, WRITE_SCHEMA, **_OPTIONS) as writer, ThreadPoolExecutor(1) as pool:
        pending = None
        for group in row_groups(tables):
            if pending is not None:
                pending.result()
            pending = pool.submit(_write_group, writer, group)
            rows += group.num_rows
        if pending is not None:
            pending.result()
    return rows


def to_task_schema(table: pa.Table) -> pa.Table:
    """Write form -> TASK_SCHEMA (plain strings), for tasks kept in memory."""
    return table.cast(TASK_SCHEMA)
