"""CPU seconds per step of the columnar engine, one step after another (no writer thread).

Usage: python bench/tasks_cpu_steps.py LOG [--preset paper] [--train-tasks-per-user 2] [--out FILE]

``bench/tasks_steps.py`` times the CLI's path, where the writer thread overlaps the kernel, so on
one core each thread's wall time includes the other's. This script runs the same steps in
sequence and prints ``time.process_time()`` per step: prepare (read, codes, checks), kernel
(all blocks, tasks held in memory), write form (canonical dictionaries), Parquet encode + write;
the indented lines are the engine's own wall-clock laps (columnar.TIMINGS, kernel.TIMINGS).
The file it writes is the CLI's ``tasks.parquet`` byte for byte (it prints the sha256).
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import pyarrow.parquet as pq

from verbalrec.tasks import columnar, kernel, writer
from verbalrec.tasks.protocol import preset
from verbalrec.tasks.source import resolve


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--train-tasks-per-user", type=int, default=2)
    ap.add_argument("--out", default="/tmp/tasks-cpu-steps.parquet")
    a = ap.parse_args()
    p = preset(a.preset, train_tasks_per_user=a.train_tasks_per_user)
    rows = []
    t = time.process_time()
    prep = columnar.prepare(resolve(a.log), p)
    rows += [("prepare", time.process_time() - t)] + [(f"  {k}", v) for k, v in columnar.TIMINGS.items()]
    t = time.process_time()
    tables = list(columnar.task_tables(prep, columnar.Totals()))
    rows += [("kernel (all blocks)", time.process_time() - t)] + [(f"  {k}", v) for k, v in kernel.TIMINGS.items()]
    t = time.process_time()
    forms = [writer.write_form(g) for g in writer.row_groups(tables)]
    rows.append(("write form (canonical dictionaries)", time.process_time() - t))
    t = time.process_time()
    with pq.ParquetWriter(a.out, writer.WRITE_SCHEMA, **writer._OPTIONS) as w:
        for f in forms:
            w.write_table(f, row_group_size=writer.ROW_GROUP)
    rows.append(("Parquet encode + write", time.process_time() - t))
    total = sum(s for name, s in rows if not name.startswith(" "))
    for name, s in rows + [("total (CPU s, steps in sequence)", total)]:
        print(f"{name:42s} {s:6.2f} s")
    print(f"{prep.n_events:,} events, sha256 {hashlib.sha256(Path(a.out).read_bytes()).hexdigest()[:16]}")


if __name__ == "__main__":
    main()
