"""Benchmark: synthetic streaming logs on disk -> task files, per engine (default ~10M events).

1. Generates the log to one Parquet file in chunks of users (the events of
   ``verbalrec.logs.synthetic.generate`` for the same config; never the whole log in memory).
2. Builds tasks in a fresh process per engine -- ``verbalrec tasks build LOG --engine E`` -- and
   reads that process's wall time and peak RSS; ``api`` is ``build_tasks`` on the log loaded
   into a pandas EventLog (the old bench's measure: no file read or write, log held in memory).
3. Appends the runs to docs/results/tasks-scale.json (engine, events, seconds, events_per_s,
   peak_rss_gib) and checks that every engine wrote the same tasks.parquet.

Usage: python bench/build_tasks_scale.py [--users 50000] [--events-per-user 200] [--engines columnar,spark,api]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from verbalrec.atomic import write_json, write_parquet
from verbalrec.tasks.columnar import STREAM_EVENTS
from verbalrec.logs.synthetic import (DEVICES, ENGAGEMENT_CODES, SyntheticConfig, _catalog, _chunk, _day0)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results" / "tasks-scale.json"


def write_log(cfg: SyntheticConfig, out: Path) -> int:
    """The synthetic log as a saved log folder, written chunk by chunk; returns the events."""
    if (out / "log.json").exists():
        return json.loads((out / "log.json").read_text())["describe"]["events"]
    out.mkdir(parents=True, exist_ok=True)
    catalog, cat = _catalog(np.random.default_rng(np.random.SeedSequence([cfg.seed, 0])), cfg)
    day0 = _day0(cfg.start)
    chunks = range(0, cfg.n_users, cfg.chunk_users)
    seeds = np.random.SeedSequence([cfg.seed, 1]).spawn(len(chunks))
    width = len(str(cfg.n_users - 1))
    items = pa.array(catalog["item_id"].to_numpy(object), pa.string())
    n = 0
    with pq.ParquetWriter(out / "events.parquet", _SCHEMA) as writer:
        for lo, seed in zip(chunks, seeds):
            ev, _ = _chunk(np.random.default_rng(seed), cfg, cat, min(cfg.chunk_users, cfg.n_users - lo),
                           int(day0.timestamp()), day0.day_of_week)
            users = pa.array([f"u{i:0{width}d}" for i in range(lo, lo + int(ev["user"].max()) + 1)])
            writer.write_table(pa.table({
                "user_id": users.take(pa.array(ev["user"])), "timestamp": pa.array(ev["ts"], pa.int64()),
                "item_id": items.take(pa.array(ev["item"])),
                "engagement": pa.array(ENGAGEMENT_CODES).take(pa.array(ev["eng"])),
                "duration_min": pa.array(ev["dur"].astype(np.float64)),
                "device": pa.array(DEVICES[ev["dev"]].tolist(), pa.string()),
                "rating": pa.nulls(len(ev["ts"]), pa.float64())}, schema=_SCHEMA), row_group_size=1 << 20)
            n += len(ev["ts"])
    cat = catalog.copy()
    cat["year"] = cat["year"].astype("Int64")
    write_parquet(out / "catalog.parquet", cat)
    write_json(out / "log.json", {"name": f"synthetic-{cfg.seed}", "meta": {"config": asdict(cfg)},
                                  "describe": {"events": n}})
    return n


_SCHEMA = pa.schema([("user_id", pa.string()), ("timestamp", pa.int64()), ("item_id", pa.string()),
                     ("engagement", pa.string()), ("duration_min", pa.float64()), ("device", pa.string()),
                     ("rating", pa.float64())])


def run(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """(seconds, peak RSS GiB of the child, its output)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if p.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr[-3000:]}")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # RUSAGE_CHILDREN keeps the largest child so far; a smaller later child (or Spark's JVM, not
    # waited for by this process) is not seen: then the peak is unknown
    return seconds, (rss / 2**20 if rss > before else None), p.stdout.strip().splitlines()[-1]


API = """
import sys, time
from verbalrec.logs import load_saved_log
from verbalrec.tasks import build_tasks, preset
log = load_saved_log(sys.argv[1])
t0 = time.perf_counter()
tasks = build_tasks(log, preset(sys.argv[2], train_tasks_per_user=int(sys.argv[3])), progress=False)
print(f"build_tasks: {len(tasks)} tasks in {time.perf_counter() - t0:.2f}s (log load not counted)")
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=50_000)
    ap.add_argument("--events-per-user", type=float, default=200.0)
    ap.add_argument("--films", type=int, default=20_000)
    ap.add_argument("--series", type=int, default=3_000)
    ap.add_argument("--chunk-users", type=int, default=20_000)
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--train-tasks-per-user", type=int, default=2)
    ap.add_argument("--engines", default="columnar,spark,api")
    ap.add_argument("--data", default="bench-data", help="folder for the generated log and the task folders")
    ap.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS / Arrow CPU threads / Spark local[N]")
    a = ap.parse_args()
    cfg = SyntheticConfig(seed=0, n_users=a.users, events_per_user=a.events_per_user, n_films=a.films,
                          n_series=a.series, chunk_users=a.chunk_users)
    data = Path(a.data)
    logdir = data / f"synth-{a.users}x{a.events_per_user:g}"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, threads {a.threads}")
    t0 = time.perf_counter()
    n = write_log(cfg, logdir)
    print(f"log: {n:,} events in {logdir} ({time.perf_counter() - t0:.1f}s incl. generation if new)")
    env = {**os.environ, "OMP_NUM_THREADS": str(a.threads), "OMP_THREAD_LIMIT": str(a.threads),
           "ARROW_NUM_THREADS": str(a.threads), "PYSPARK_SUBMIT_ARGS": f"--master local[{a.threads}] pyspark-shell",
           "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    runs, sums = [], {}
    for engine in a.engines.split(","):
        out = data / f"tasks-{engine}-{n}"
        if engine == "api":
            cmd = [sys.executable, "-c", API, str(logdir), a.preset, str(a.train_tasks_per_user)]
        else:
            cmd = [sys.executable, "-m", "verbalrec.cli", "tasks", "build", str(logdir), "--preset", a.preset,
                   "--train-tasks-per-user", str(a.train_tasks_per_user), "--engine", engine, "--quiet", "--out", str(out)]
        seconds, rss, last = run(cmd, env)
        peak = f"{rss:.2f} GiB" if rss is not None else "not measured (put this engine first in --engines)"
        print(f"{engine}: {last}\n  {n:,} events in {seconds:.1f}s wall = {n / seconds:,.0f} events/s, peak RSS {peak}")
        runs.append({"engine": engine, "events": n, "seconds": round(seconds, 2), "events_per_s": round(n / seconds),
                     "peak_rss_gib": round(rss, 3) if rss is not None else None, "preset": a.preset, "threads": a.threads,
                     "what": ("fresh process: python start + read + build + write"
                              + ("; streamed (user buckets spilled to disk)" if n > STREAM_EVENTS else "")) if engine != "api"
                     else "fresh process: pandas log load + build_tasks in memory (no file write)"})
        if engine != "api":
            sums[engine] = hashlib.sha256((out / "tasks.parquet").read_bytes()).hexdigest()[:16]
    if sums:
        print("tasks.parquet sha256:", sums, "(same bytes)" if len(set(sums.values())) == 1 else "(DIFFER)")
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    keep = [r for r in old if (r["engine"], r["events"]) not in {(x["engine"], x["events"]) for x in runs}]
    write_json(RESULTS, keep + runs)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
