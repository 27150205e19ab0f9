"""Benchmark: does Stage 2 (constrained candidate rollouts, ±1) raise the Reasoner above its warm start?

Starts from a warm-started Reasoner (e.g. the one ``bench/reasoner.py`` trained), runs Stage 2 on
the training tasks written by a frozen verbalizer, once per seed, and scores the warm start and each
Stage 2 model on the same test tasks reading the same verbalizer (likelihood mode), with the paired
bootstrap Δ% vs the warm start. Writes one JSON (default ``docs/results/stage2/ml100k.json``):

    python bench/stage2.py --model runs/bench-reasoner/reasoner-h20-s0 \\
        --tasks runs/bench-reasoner/tasks-paper-h20 --verbalizer template --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from verbalrec.atomic import write_json  # noqa: E402
from verbalrec.evaluate.loop import evaluate  # noqa: E402
from verbalrec.evaluate.table import print_table, results_json  # noqa: E402
from verbalrec.reason import make_reasoner  # noqa: E402
from verbalrec.tasks import load_tasks  # noqa: E402
from verbalrec.models.threads import cpu_threads  # noqa: E402
from verbalrec.train.grpo_config import Stage2Config  # noqa: E402
from verbalrec.train.stage2 import train_reasoner  # noqa: E402
from verbalrec.verbalize import make_verbalizer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="the warm-started Reasoner")
    ap.add_argument("--tasks", required=True)
    ap.add_argument("--verbalizer", default="template")
    ap.add_argument("--out", default="docs/results/stage2/ml100k.json")
    ap.add_argument("--work", default="runs/bench-stage2")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--max-length", type=int, default=640)
    ap.add_argument("--limit", type=int, default=0, help="first N test tasks (0 = all)")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--beta", type=float, default=0.04)
    ap.add_argument("--generations", type=int, default=8)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--max-tasks", type=int, default=2000)
    a = ap.parse_args()
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    tasks = load_tasks(a.tasks)
    test = tasks.split("test").head(a.limit) if a.limit else tasks.split("test")
    verbalizer = make_verbalizer(a.verbalizer, tasks.catalog)
    runs, results = [], []
    with cpu_threads(1):
        warm = evaluate(test, make_reasoner("likelihood", a.model, tasks.catalog, max_length=a.max_length),
                        verbalizer, progress=False, system="warm start")
        results.append(warm)
        for seed in [int(s) for s in a.seeds.split(",")]:
            cfg = Stage2Config(tasks=a.tasks, out=str(Path(a.work) / f"{a.verbalizer}-s{seed}"), policy=a.model,
                               verbalizer=a.verbalizer, rollout="candidates", max_steps=a.steps, learning_rate=a.lr,
                               beta=a.beta, num_generations=a.generations, prompts_per_step=a.prompts,
                               max_tasks=a.max_tasks, max_prompt_length=a.max_length, seed=seed, logging_steps=1,
                               save_steps=max(a.steps, 1), loss_type="grpo")
            t0 = time.perf_counter()
            out = train_reasoner(cfg, resume=Path(cfg.out).exists())
            wall = time.perf_counter() - t0
            res = evaluate(test, make_reasoner("likelihood", str(out), tasks.catalog, max_length=a.max_length),
                           verbalizer, progress=False, system=f"stage2 seed {seed}")
            results.append(res)
            d, lo, hi = res.delta_over(warm)
            rewards = [h["reward"] for h in json.loads((out / "verbalrec_run.json").read_text())["log_history"]
                       if "reward" in h]
            k = max(1, len(rewards) // 5)
            runs.append({"seed": seed, "recall@1_discovery": res.summary["recall@1_discovery"],
                         "delta_vs_warmstart_pct": d, "delta_vs_warmstart_pct_ci95": [lo, hi],
                         "reward_first_fifth": sum(rewards[:k]) / k, "reward_last_fifth": sum(rewards[-k:]) / k,
                         "train_s": round(wall, 1), "s_per_step": round(wall / max(a.steps, 1), 2)})
            log(f"seed {seed}: {runs[-1]}")
    doc = results_json(results, warm)
    print_table(doc, title=f"Stage 2 ({a.verbalizer}) vs its warm start, {len(test)} test tasks")
    write_json(Path(a.out), {"command": " ".join(sys.argv), "n_tasks": len(test), "verbalizer": a.verbalizer,
                             "warmstart": warm.summary, "runs": runs, "config": dataclasses.asdict(cfg), **doc})
    log(f"wrote {a.out}")


if __name__ == "__main__":
    main()
