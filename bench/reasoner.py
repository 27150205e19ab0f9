"""Benchmark: the in-project Reasoner (dense warm start on a verbalization mix, candidate
likelihood) against SASRec and item-kNN, on all ml-100k test users.

Builds the tasks (``paper``: H = --history-len, 10 candidates; ``llara``: last 10, 20 candidates),
trains the Reasoner with ``train.warmstart`` (config: --config YAML of WarmStartConfig fields),
scores it reading each verbalization, and writes one JSON (default
``docs/results/reasoner/ml100k.json``) with ``warmstart_s``, ``n_tasks``, one object per system
(``recall@1_discovery`` and its paired-bootstrap ``_ci95``) and the paired Δ% of the template row
vs SASRec. Usage:

    python bench/reasoner.py --out docs/results/reasoner/ml100k.json [--history-len 20] [--llara]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from verbalrec.atomic import write_json  # noqa: E402
from verbalrec.config import read_yaml  # noqa: E402
from verbalrec.evaluate.loop import evaluate  # noqa: E402
from verbalrec.evaluate.table import print_table, results_json  # noqa: E402
from verbalrec.logs import load_log  # noqa: E402
from verbalrec.reason import make_ranker, make_reasoner  # noqa: E402
from verbalrec.tasks import build_tasks, load_tasks, save_tasks  # noqa: E402
from verbalrec.tasks.protocol import preset  # noqa: E402
from verbalrec.models.threads import cpu_threads  # noqa: E402
from verbalrec.train.warmstart import WarmStartConfig, warm_start  # noqa: E402
from verbalrec.verbalize import make_verbalizer  # noqa: E402

VERBALIZATIONS = ("template", "template+meta", "heuristic", "titles")


def tasks_dir(work: Path, protocol: str, history_len: int | None, seed: int, train_per_user: int | None = None) -> Path:
    extra = {} if train_per_user is None else {"train_tasks_per_user": train_per_user}
    out = work / (f"tasks-{protocol}-h{history_len or 'default'}" + (f"-t{train_per_user}" if extra else ""))
    if not (out / "meta.json").exists() and not any(out.glob("*.parquet")):
        tasks = build_tasks(load_log("ml-100k"), preset(protocol, history_len=history_len, seed=seed, **extra),
                            progress=False)
        save_tasks(tasks, out)
    return out


def score(task_dir: Path, model: str, max_length: int, limit: int, verbalizations, seed: int, log) -> dict:
    """Every verbalization read by the Reasoner, plus SASRec and item-kNN, on the same test tasks."""
    tasks = load_tasks(task_dir)
    train, test = tasks.split("train"), tasks.split("test")
    test = test.head(limit) if limit else test
    results, timing = [], {}
    for name in ("sasrec", "itemknn", "popularity"):
        t0 = time.perf_counter()
        results.append(evaluate(test, make_ranker(name, seed).fit(train), progress=False, system=name))
        timing[name] = round(time.perf_counter() - t0, 1)
    reasoner = make_reasoner("likelihood", model, tasks.catalog, max_length=max_length)
    for v in verbalizations:
        t0 = time.perf_counter()
        results.append(evaluate(test, reasoner, make_verbalizer(v, tasks.catalog), progress=False, system=v))
        timing[v] = round(time.perf_counter() - t0, 1)
        log(f"  {v}: {results[-1].summary['recall@1_discovery']:.3f} ({timing[v]} s)")
    by = {r.system: r for r in results}
    doc = results_json(results, by["sasrec"])
    systems = {row["system"]: {**row, "score_s": timing[row["system"]]} for row in doc["results"]}
    # Δ% of each verbalization vs the template (the format-robustness check)
    for v in verbalizations[1:]:
        d, lo, hi = by[v].delta_over(by["template"])
        systems[v]["delta_pct_vs_template"], systems[v]["delta_pct_vs_template_ci95"] = d, [lo, hi]
    recalls = [systems[v]["recall@1_discovery"] for v in verbalizations]
    return {"n_tasks": len(test), "systems": systems, "spread": max(recalls) - min(recalls),
            "template_vs_sasrec_delta_pct": systems["template"]["delta_pct"],
            "template_vs_sasrec_delta_pct_ci95": systems["template"]["delta_pct_ci95"], "doc": doc}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="docs/results/reasoner/ml100k.json")
    ap.add_argument("--work", default="runs/bench-reasoner", help="folder for tasks and the model")
    ap.add_argument("--config", help="YAML of WarmStartConfig fields (default: the ml100k-cpu preset's)")
    ap.add_argument("--history-len", type=int, default=20)
    ap.add_argument("--train-tasks-per-user", type=int, help="the protocol's training targets per user (0 = all)")
    ap.add_argument("--max-length", type=int, default=640, help="the Reasoner's token budget")
    ap.add_argument("--limit", type=int, default=0, help="score the first N test tasks (0 = all)")
    ap.add_argument("--llara", action="store_true", help="also the llara protocol (last 10, 20 candidates, HR@1)")
    ap.add_argument("--long-history", type=int, default=0,
                    help="also score the same model on H=N histories under the same token budget (e.g. 100)")
    ap.add_argument("--model", help="score this model instead of training one")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--processes", type=int, default=1,
                    help="train under `accelerate launch` with N processes (each takes --config's batch_size)")
    a = ap.parse_args()
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    work = Path(a.work)
    overrides = read_yaml(a.config) if a.config else default_warmstart()
    with cpu_threads(a.threads):
        paper = tasks_dir(work, "paper", a.history_len, a.seed, a.train_tasks_per_user)
        model, wall = a.model, None
        if not model:
            cfg = WarmStartConfig(**{"max_length": a.max_length, "seed": a.seed, **overrides,
                                     "tasks": str(paper), "out": str(work / f"reasoner-h{a.history_len}-s{a.seed}")})
            t0 = time.perf_counter()
            model = str(train(cfg, a.processes))
            wall = round(time.perf_counter() - t0, 1)
            log(f"warm start {wall} s -> {model}")
        res = score(paper, model, a.max_length, a.limit, VERBALIZATIONS, a.seed, log)
        print_table(res.pop("doc"), title=f"ml-100k paper H={a.history_len}, budget {a.max_length} tokens")
        out = {"warmstart_s": wall, "processes": a.processes, "model": model, "history_len": a.history_len, "max_length": a.max_length,
               "seed": a.seed, "command": " ".join(sys.argv), "warmstart": overrides, **res["systems"],
               **{k: v for k, v in res.items() if k != "systems"}}
        if a.long_history:
            long = score(tasks_dir(work, "paper", a.long_history, a.seed, a.train_tasks_per_user), model, a.max_length, a.limit,
                         VERBALIZATIONS, a.seed, log)
            print_table(long.pop("doc"), title=f"ml-100k paper H={a.long_history}, budget {a.max_length} tokens")
            out[f"h{a.long_history}"] = long
        if a.llara:  # its own Reasoner: the paper split's training events reach into llara's test period
            llara_dir = tasks_dir(work, "llara", None, a.seed, a.train_tasks_per_user)
            cfg = WarmStartConfig(**{"max_length": a.max_length, "seed": a.seed, **overrides,
                                     "tasks": str(llara_dir), "out": str(work / f"reasoner-llara-s{a.seed}")})
            llara = score(llara_dir, str(train(cfg, a.processes)), a.max_length, a.limit, ("template",), a.seed, log)
            print_table(llara.pop("doc"), title="ml-100k llara (last 10, 20 candidates)")
            out["llara"] = {"hr@1_template": llara["systems"]["template"]["hr@1"], **llara,
                            "llara_published_best_hr@1": 0.4526}
    write_json(Path(a.out), out)
    log(f"wrote {a.out}")


def train(cfg: WarmStartConfig, processes: int) -> Path:
    """The warm start in this process, or as the main job launches it with ``num_processes``."""
    if processes == 1:
        return warm_start(cfg)
    from types import SimpleNamespace
    from verbalrec.reproduce.launch import run_step
    step_dir = Path(cfg.out).parent / (Path(cfg.out).name + "-launch")
    step_dir.mkdir(parents=True, exist_ok=True)
    run_step(SimpleNamespace(num_processes=processes, accelerate_config=None, cpu_threads=1), "warmstart", cfg,
             step_dir, resume=Path(cfg.out).exists())
    return Path(cfg.out)


def default_warmstart() -> dict:
    from verbalrec.reproduce.config import load_config
    return load_config("ml100k-cpu").warmstart


if __name__ == "__main__":
    main()
