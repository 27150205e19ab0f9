"""The floors under ``verbalrec tasks build``: what reading the log and writing the task file cost alone.

Usage: python bench/tasks_floors.py LOG TASKS_PARQUET [--repeat 3]

LOG is the bench's log folder (``bench/build_tasks_scale.py``), TASKS_PARQUET a task file built
from it. In one process, each step ``--repeat`` times (the best and median wall, and CPU seconds
of the best), at 1 thread and at every core this process may use:

- read: the 7 event columns, string columns kept as Parquet dictionaries (``columnar.read_table``);
- write form: the writer's canonical dictionaries of every row group (tasks already in memory);
- encode: Parquet encoding of those row groups into one file (``writer.write_tasks_file``:
  row groups encoded by N threads and stitched; N = 1 is the serial writer's work).

The fresh-process import floors are separate commands (``python -X importtime``, see
docs/tasks-scale.md). Prints one line per (step, threads).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from verbalrec.tasks import columnar, writer
from verbalrec.tasks.source import resolve
from verbalrec.tasks.stitch import Stitcher


def timed(fn, repeat: int) -> tuple[float, float, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        c, t = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    best = min(range(repeat), key=walls.__getitem__)
    return walls[best], statistics.median(walls), cpus[best]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("tasks")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default="/tmp/tasks-floors.parquet")
    a = ap.parse_args()
    src = resolve(a.log)
    n = sum(src.rows)
    cores = writer.threads()
    tasks = pq.read_table(a.tasks).cast(writer.WRITE_SCHEMA)
    groups = list(writer.row_groups([tasks]))
    forms = [writer.write_form(g) for g in groups]
    print(f"{n:,} events, {tasks.num_rows:,} tasks in {len(groups)} row groups; cores: {cores}; "
          f"load {os.getloadavg()[0]:.2f}")
    for k in sorted({1, cores}):
        pa.set_cpu_count(k)
        pa.set_io_thread_count(k)
        rows = {
            "read 7 columns": lambda: columnar.read_table(src),
            "write form (all row groups)": lambda: [writer.write_form(g) for g in groups],
            "encode + stitch (forms given)": lambda: _encode(forms, a.out, k),
            "write form + encode": lambda: writer.write_tasks_file(a.out, groups, workers=k),
        }
        for name, fn in rows.items():
            best, med, cpu = timed(fn, a.repeat)
            print(f"{name:32s} threads {k}: best {best:5.2f} s (median {med:5.2f}), CPU {cpu:5.2f} s, "
                  f"{n / best / 1e6:5.2f}M events/s; load {os.getloadavg()[0]:.2f}")
    print("file", Path(a.out).stat().st_size, "bytes")


def _part(form: pa.Table) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, writer.WRITE_SCHEMA, **writer._OPTIONS) as w:
        w.write_table(form, row_group_size=writer.ROW_GROUP)
    return sink.getvalue()


def _encode(forms: list[pa.Table], out: str, k: int) -> None:
    """Only the Parquet encoding (writer.encode_group without its write_form), k threads."""
    with open(out, "wb") as f, ThreadPoolExecutor(k) as pool:
        st = Stitcher(f)
        for part in pool.map(_part, forms):
            st.add(part)
        st.close()


if __name__ == "__main__":
    main()
