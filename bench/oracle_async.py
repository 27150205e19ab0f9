"""Benchmark: endpoint-oracle calls per second, synchronous vs async, against a loopback server.

The server is the tests' scripted OpenAI-compatible server (tests/reason/serve_helpers.FakeServer,
a threading stdlib server) in a process of its own, so it does not share this one's GIL, answering
each /v1/completions request with log-probs after ``--latency`` seconds -- a stand-in for a vLLM
server that batches concurrent requests, so its latency does not grow with load. Each run scores
``--n`` distinct prompts (no cache hits):

* ``sync c=1``: ``EndpointReasoner`` with one request at a time (an oracle called synchronously);
* ``sync threads c=K``: ``EndpointReasoner``'s thread pool (its default concurrency is 4);
* ``async c=K``: ``AsyncEndpointReasoner`` on an event loop, at most K in flight.

Results go to docs/results/oracle-async-<latency>ms.json.

Usage: python bench/oracle_async.py [--n 400] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "reason"), str(ROOT / "tests")]  # the tests' fake server and tiny tasks

import numpy as np  # noqa: E402
from serve_helpers import FakeServer, completion_logprobs  # noqa: E402

from verbalrec.atomic import write_json  # noqa: E402
from verbalrec.reason.endpoint import EndpointConfig, EndpointReasoner  # noqa: E402
from verbalrec.reason.endpoint_async import AsyncEndpointReasoner  # noqa: E402

RESULTS = ROOT / "docs" / "results" / "oracle-async.json"


def answer(n, body):
    return 200, {}, completion_logprobs({"A": -0.1, "B": -2.0, "C": -3.0})


def calls_per_s(cls, url: str, concurrency: int, tasks, contexts, catalog) -> float:
    """Requests per second for one fresh oracle (empty cache) scoring every task once."""
    with tempfile.TemporaryDirectory() as d:
        conf = EndpointConfig(base_url=url, model="m", concurrency=concurrency, cache_path=f"{d}/c.sqlite")
        oracle = cls(conf, catalog)
        t0 = time.perf_counter()
        oracle.score(tasks, contexts)
        return len(tasks) / (time.perf_counter() - t0)


def serve(latency: float) -> None:
    """Child mode: the fake server, its URL on stdout, until killed."""
    import http.server
    http.server.ThreadingHTTPServer.request_queue_size = 512  # many clients connect at once
    with FakeServer(answer, delay=latency) as srv:
        print(srv.base_url, flush=True)
        sys.stdin.read()  # until the parent closes the pipe


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--latency", type=float, default=0.05)
    p.add_argument("--repeats", type=int, default=3, help="runs of each setting, interleaved; the median is reported")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.serve:
        return serve(a.latency)
    from test_endpoint import tiny_tasks
    base, texts, catalog = tiny_tasks()
    tasks = [base[i % len(base)] for i in range(a.n)]
    contexts = [f"{texts[i % len(texts)]}\n# {i}" for i in range(a.n)]  # distinct prompts
    runs = [("sync c=1", EndpointReasoner, 1), ("sync threads c=4", EndpointReasoner, 4),
            ("sync threads c=32", EndpointReasoner, 32), ("sync threads c=128", EndpointReasoner, 128),
            ("async c=4", AsyncEndpointReasoner, 4),
            ("async c=32", AsyncEndpointReasoner, 32), ("async c=128", AsyncEndpointReasoner, 128)]
    doc = {"n": a.n, "latency_s": a.latency, "cpus": os.cpu_count(), "load_avg": os.getloadavg(),
           "date": time.strftime("%Y-%m-%d"), "server": "FakeServer in its own process", "calls_per_s": {}}
    server = subprocess.Popen([sys.executable, __file__, "--serve", "--latency", str(a.latency)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        calls_per_s(AsyncEndpointReasoner, url, 4, tasks[:8], contexts[:8], catalog)  # warm-up (imports)
        seen = {name: [] for name, _, _ in runs}
        for _ in range(a.repeats):  # interleaved, so a burst of load elsewhere hits every setting alike
            for name, cls, c in runs:
                seen[name].append(round(calls_per_s(cls, url, c, tasks, contexts, catalog), 1))
        for name, values in seen.items():
            doc["calls_per_s"][name] = {"median": float(np.median(values)), "runs": values}
            print(f"{name:>20}: {np.median(values):8.1f} calls/s  (runs {values})", flush=True)
    finally:
        server.stdin.close()
        server.wait(10)
    out = RESULTS.with_name(f"oracle-async-{int(a.latency * 1000)}ms.json")
    write_json(out, doc)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
