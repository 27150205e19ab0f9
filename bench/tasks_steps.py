"""Where the columnar engine's time goes: each step of ``verbalrec tasks build`` timed in one process.

Usage: python bench/tasks_steps.py LOG [--preset paper] [--train-tasks-per-user 2] [--out DIR]

Prints seconds and the process's peak RSS after each step (imports, resolve, read + code,
checks + order, per-block kernel parts, write). The writer runs in its own thread beside the
kernel, so the kernel and write lines overlap; "end to end" is the wall time of the whole build.
Blocks are built and row groups encoded by one thread per core, so the lines are sums over
threads; the kernel's own lines ("kernel: ...") are CPU seconds of the building threads.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse
import resource
import sys
from pathlib import Path


def rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--train-tasks-per-user", type=int, default=2)
    ap.add_argument("--out", default="/tmp/tasks-steps")
    a = ap.parse_args()
    rows = []

    def step(name, t):
        rows.append((name, time.perf_counter() - t, rss()))

    t = time.perf_counter()
    from verbalrec.tasks import columnar, kernel, writer
    from verbalrec.tasks.build import build_to_folder, small_pages  # noqa: F401  (the CLI's import)
    from verbalrec.tasks.protocol import preset
    step("imports", T0)
    small_pages()  # as the CLI does
    protocol = preset(a.preset, train_tasks_per_user=a.train_tasks_per_user)
    timings = columnar.TIMINGS
    timings.clear()
    kernel.TIMINGS.clear()
    writer.TIMINGS.clear()
    t = time.perf_counter()
    from verbalrec.tasks.build import build_to_folder as build
    m = build(a.log, protocol, Path(a.out))
    total = time.perf_counter() - t
    for k, v in timings.items():
        rows.append((f"  {k}", v, None))
    for k, v in kernel.TIMINGS.items():
        rows.append((f"    kernel: {k}", v, None))
    for k, v in writer.TIMINGS.items():
        rows.append((f"  writer thread: {k}", v, None))
    rows.append(("build (prepare + kernel + write)", total, rss()))
    end = time.perf_counter() - T0
    n = m["events"]
    for name, s, r in rows:
        print(f"{name:42s} {s:7.2f} s" + (f"   peak RSS {r:.2f} GiB" if r is not None else ""))
    print(f"{'end to end (process start to done)':42s} {end:7.2f} s   {n / end:,.0f} events/s, "
          f"{m['n_tasks']} tasks, peak RSS {rss():.2f} GiB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
