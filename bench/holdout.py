"""Benchmark helper: does the warm start memorise its training tasks, and does Stage 2 gain more on
tasks the Reasoner never read? (docs/reasoner.md, "Stage 2 on held-out tasks").

``probe``: greedy Recall@1 (template, likelihood mode) on each user's newest training task vs the
first N test tasks. ``split``: from one task folder, two: ``ws`` (the train split minus each user's
newest training task, and minus any training task whose history holds that target: same-second
ties) for the warm start, and ``s2`` (the train split is those newest tasks only) for Stage 2.
Valid and test are untouched, so both folders score the same test tasks.

    python bench/holdout.py probe --tasks <task folder> --model <Reasoner> --limit 500
    python bench/holdout.py split --tasks <task folder> --out <dir>   # writes <dir>/ws and <dir>/s2
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pyarrow as pa  # noqa: E402


def newest_rows(table: pa.Table) -> tuple[set[int], set[int]]:
    """Row numbers of each user's newest training task, and of older training tasks whose history
    holds that task's target (a same-second tie: it would leak the held-out target)."""
    df = table.select(["user_id", "target_time", "target_item", "split", "hist_item"]).to_pandas().reset_index()
    train = df[df.split == "train"]
    newest = train.sort_values("target_time").groupby("user_id").tail(1)
    held = dict(zip(newest.user_id, newest.target_item))
    ids = set(newest["index"])
    ties = {r.index for r in train.itertuples() if r.index not in ids and held[r.user_id] in list(r.hist_item)}
    return ids, ties


def split(tasks_dir: Path, out: Path) -> None:
    from verbalrec.tasks import load_tasks, save_tasks
    from verbalrec.tasks.schema import TaskSet

    tasks = load_tasks(tasks_dir)
    table = tasks.table
    ids, ties = newest_rows(table)
    splits = table["split"].to_pylist()
    keep = {"ws": [i for i in range(len(table)) if i not in ids and i not in ties],
            "s2": [i for i in range(len(table)) if splits[i] != "train" or i in ids]}
    for name, rows in keep.items():
        sub = table.take(pa.array(rows))
        counts = {s: sub["split"].to_pylist().count(s) for s in ("train", "valid", "test")}
        save_tasks(TaskSet(sub, tasks.catalog, {**tasks.meta, "counts": counts}), out / name)  # atomic, as the CLI writes
        print(out / name, counts, f"({len(ties)} tied training tasks dropped)")


def probe(tasks_dir: str, model: str, limit: int) -> None:
    from verbalrec.evaluate.loop import evaluate
    from verbalrec.models.threads import cpu_threads
    from verbalrec.reason import make_reasoner
    from verbalrec.tasks import load_tasks
    from verbalrec.tasks.schema import TaskSet
    from verbalrec.verbalize import make_verbalizer

    tasks = load_tasks(tasks_dir)
    train = tasks.split("train")
    ids, _ = newest_rows(train.table)
    newest = TaskSet(train.table.take(pa.array(sorted(ids)[:limit])), tasks.catalog, tasks.meta)
    verbalizer = make_verbalizer("template", tasks.catalog)
    with cpu_threads(1):
        reasoner = make_reasoner("likelihood", model, tasks.catalog, max_length=640)
        for name, part in (("newest training task", newest), ("test", tasks.split("test").head(limit))):
            res = evaluate(part, reasoner, verbalizer, progress=False, system=name)
            print(f"{name}: {len(part)} tasks, Recall@1 Discovery {res.summary['recall@1_discovery']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=("probe", "split"))
    ap.add_argument("--tasks", required=True)
    ap.add_argument("--model", help="probe: the Reasoner")
    ap.add_argument("--limit", type=int, default=500)
    ap.add_argument("--out", help="split: folder for ws/ and s2/")
    a = ap.parse_args()
    if a.what == "split":
        split(Path(a.tasks), Path(a.out))
    else:
        probe(a.tasks, a.model, a.limit)


if __name__ == "__main__":
    main()
