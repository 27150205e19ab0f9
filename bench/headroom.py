"""Benchmark: is there headroom for a verbalizer under a reader? Before training Stage 1 against an
oracle, score the template and the drop-noise executor (the heuristic's keep/drop, perfect noise
removal on synthetic logs) under each frozen reader, paired on the same test tasks. A reader under
which drop-noise is not above the template cannot teach a verbalizer to remove noise. ``--writers``
adds fixed writers that probe other choices a verbalizer could learn (format: ``titles``; selection:
``drop-disliked``, ``liked-only``, ``titles-no-noise``; recency: ``recent20+titles``, the last 20 lines full and older
ones as bare titles), each paired against the template.

    python bench/headroom.py --tasks <synthetic H=100 tasks> --lm <warm-started Reasoner> \\
        --budgets 256,384,640 --knn-last 5,10,20 --out docs/results/stage1/headroom-synthetic-h100.json
"""

from __future__ import annotations

import argparse
import os
import re
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from verbalrec.atomic import write_json  # noqa: E402
from verbalrec.evaluate.loop import evaluate  # noqa: E402
from verbalrec.logs.catalog import Catalog  # noqa: E402
from verbalrec.logs.schema import NOISE_ENGAGEMENTS  # noqa: E402
from verbalrec.models.threads import cpu_threads  # noqa: E402
from verbalrec.reason import make_reasoner  # noqa: E402
from verbalrec.reason.baselines import TextItemKNNRanker  # noqa: E402
from verbalrec.tasks import load_tasks  # noqa: E402
from verbalrec.verbalize import make_verbalizer  # noqa: E402
from verbalrec.verbalize.template import template_line  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from stage1 import DropNoise  # noqa: E402


class Lines:
    """A fixed writer: ``line(event, catalog, age)`` per interaction (age 1 = newest), None drops it."""

    version = "1"

    def __init__(self, name: str, catalog: Catalog, line):
        self.name, self.catalog, self.line = name, catalog, line

    def verbalize(self, tasks):
        out = []
        for t in tasks:
            events = t.history()
            lines = (self.line(e, self.catalog, len(events) - i) for i, e in enumerate(events))
            out.append("\n".join(x for x in lines if x is not None))
        return out


PROBES = {
    "titles": lambda c: make_verbalizer("titles", c),
    "heuristic": lambda c: make_verbalizer("heuristic", c),
    "drop-disliked": lambda c: Lines("drop-disliked", c, lambda e, c, age: None if e.get("engagement") == "thumb_down"
                                     else template_line(e, c)),
    "liked-only": lambda c: Lines("liked-only", c, lambda e, c, age: template_line(e, c)
                                  if e.get("engagement") == "thumb_up" else None),
    "titles-no-noise": lambda c: Lines("titles-no-noise", c, lambda e, c, age: None if e.get("engagement") in NOISE_ENGAGEMENTS
                                       else c.title(e["item_id"])),
}


def probe(name: str, catalog: Catalog):
    """A PROBES writer, or ``recent<N>[meta][+titles]``: the last N lines as template lines (with
    metadata: ``meta``), older ones as bare titles (``+titles``) or dropped."""
    m = re.fullmatch(r"recent(\d+)(meta)?(\+titles)?", name)
    if m:
        n, meta, titles = int(m.group(1)), bool(m.group(2)), bool(m.group(3))
        return Lines(name, catalog, lambda e, c, age: template_line(e, c, metadata=meta) if age <= n
                     else c.title(e["item_id"]) if titles else None)
    if name not in PROBES:
        sys.exit(f"headroom: unknown writer '{name}'; use {', '.join(PROBES)} or recent<N>[meta][+titles]")
    return PROBES[name](catalog)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", required=True)
    ap.add_argument("--lm", default="", help="an LM Reasoner directory (likelihood mode); empty: skip")
    ap.add_argument("--budgets", default="256,384,640", help="LM token budgets")
    ap.add_argument("--knn-last", default="5,10,20", help="itemknn-text: how many named items it reads")
    ap.add_argument("--minilm", action="store_true", help="also the MiniLM embedding reader")
    ap.add_argument("--writers", default="", help=f"more writers, comma-separated: {', '.join(PROBES)}, recent<N>[meta][+titles]")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    tasks = load_tasks(a.tasks)
    test, train, catalog = tasks.split("test"), tasks.split("train"), Catalog(tasks.catalog)
    writers = {"template": make_verbalizer("template", tasks.catalog), "drop-noise": DropNoise(catalog),
               **{w: probe(w, catalog) for w in a.writers.split(",") if w}}
    readers = {f"itemknn-text last {k}": lambda k=int(k): TextItemKNNRanker(catalog, last=k).fit(train)
               for k in a.knn_last.split(",") if k}
    if a.lm:
        readers.update({f"likelihood budget {b}": lambda b=int(b): make_reasoner("likelihood", a.lm, tasks.catalog,
                                                                                 max_length=b)
                        for b in a.budgets.split(",") if b})
    if a.minilm:
        readers["embedding (MiniLM)"] = lambda: make_reasoner("embedding", "all-MiniLM-L6-v2", tasks.catalog)
    rows = {}
    with cpu_threads(1):
        for name, build in readers.items():
            reader = build()
            res = {w: evaluate(test, reader, v, progress=False, system=w) for w, v in writers.items()}
            d, lo, hi = res["drop-noise"].delta_over(res["template"])
            rows[name] = {"template": res["template"].summary["recall@1_discovery"],
                          "drop-noise": res["drop-noise"].summary["recall@1_discovery"],
                          "delta_pct": d, "delta_pct_ci95": [lo, hi]}
            for w in list(writers)[2:]:
                dw, lw, hw = res[w].delta_over(res["template"])
                rows[name][w] = {"recall@1_discovery": res[w].summary["recall@1_discovery"],
                                 "delta_pct": dw, "delta_pct_ci95": [lw, hw]}
                print(f"{name}: {w} {rows[name][w]['recall@1_discovery']:.3f}, Δ {dw:+.1f}% [{lw:+.1f}, {hw:+.1f}]",
                      flush=True)
            print(f"{name}: template {rows[name]['template']:.3f}, drop-noise {rows[name]['drop-noise']:.3f}, "
                  f"Δ {d:+.1f}% [{lo:+.1f}, {hi:+.1f}]", flush=True)
    write_json(a.out, {"command": " ".join(sys.argv), "tasks": a.tasks, "n_tasks": len(test), "readers": rows})


if __name__ == "__main__":
    main()
