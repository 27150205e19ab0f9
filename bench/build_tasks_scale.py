"""Benchmark: synthetic streaming logs -> reranking tasks at scale (default ~10M events).

Prints events/s of generation and of task building, task counts, and peak memory (max RSS).
Usage: python bench/build_tasks_scale.py [--users 50000] [--events-per-user 200] [--preset paper]
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

from verbalrec.logs.synthetic import SyntheticConfig, generate
from verbalrec.tasks import build_tasks, preset


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=50_000)
    ap.add_argument("--events-per-user", type=float, default=200.0)
    ap.add_argument("--films", type=int, default=20_000)
    ap.add_argument("--series", type=int, default=3_000)
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--train-tasks-per-user", type=int, default=2)
    ap.add_argument("--negatives", default="uniform")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    t0 = time.perf_counter()
    log, _ = generate(SyntheticConfig(seed=a.seed, n_users=a.users, events_per_user=a.events_per_user,
                                      n_films=a.films, n_series=a.series))
    t1 = time.perf_counter()
    n = len(log.events)
    print(f"generate: {n:,} events, {log.events.user_id.nunique():,} users, {len(log.catalog):,} items "
          f"in {t1 - t0:.1f}s ({n / (t1 - t0):,.0f} events/s), peak RSS {peak_rss_gib():.2f} GiB")
    protocol = preset(a.preset, train_tasks_per_user=a.train_tasks_per_user, negatives=a.negatives, seed=a.seed)
    tasks = build_tasks(log, protocol, progress=False)
    t2 = time.perf_counter()
    print(f"build_tasks[{a.preset}, H={protocol.history_len}, N={protocol.n_candidates}, {a.negatives}, "
          f"train/user={a.train_tasks_per_user}]: {len(tasks):,} tasks {tasks.meta['counts']} in {t2 - t1:.1f}s "
          f"({n / (t2 - t1):,.0f} events/s), leakage check included; peak RSS {peak_rss_gib():.2f} GiB")


if __name__ == "__main__":
    main()
