"""Benchmark: does Stage 2 (constrained candidate rollouts, ±1) raise the Reasoner above its warm start?

Starts from a warm-started Reasoner (e.g. the one ``bench/reasoner.py`` trained), runs Stage 2 on
the training tasks written by each frozen verbalizer, once per seed, and scores the warm start and
each Stage 2 model on the same test tasks reading the same verbalizer (likelihood mode), with paired
bootstrap Δ% vs the warm start and vs the template baseline (the warm start reading the template).
With two verbalizers (the first is the raw one, e.g. ``template,heuristic``) it is the Table 2
analogue: per seed, the verbalized Stage 2 model vs the raw one. A verbalizer is a name or a trained
Verbalizer's model directory (e.g. ``bench/stage1.py``'s ``action-s0``: the paper's Table 2 (b)). Writes one JSON:

    python bench/stage2.py --model runs/bench-reasoner/reasoner-h20-s0 \\
        --tasks runs/bench-reasoner/tasks-paper-h20 --verbalizers template,heuristic --seeds 0,1,2
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
from verbalrec.train.stage2 import frozen_verbalizer, train_reasoner  # noqa: E402
from verbalrec.logs.catalog import Catalog  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="the warm-started Reasoner")
    ap.add_argument("--tasks", required=True)
    ap.add_argument("--verbalizers", "--verbalizer", default="template",
                    help="comma list; the first is the raw baseline of the Table 2 gap")
    ap.add_argument("--out", default="docs/results/stage2/ml100k.json")
    ap.add_argument("--work", default="runs/bench-stage2")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--max-length", type=int, default=640)
    ap.add_argument("--limit", type=int, default=0, help="first N test tasks (0 = all)")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--beta", type=float, default=0.04)
    ap.add_argument("--generations", type=int, default=8)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--max-tasks", type=int, default=2000)
    a = ap.parse_args()
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    tasks = load_tasks(a.tasks)
    test = tasks.split("test").head(a.limit) if a.limit else tasks.split("test")
    names = a.verbalizers.split(",")
    seeds = [int(x) for x in a.seeds.split(",")]
    runs, results, trained, cfg = [], [], {}, None
    with cpu_threads(1):
        base = None
        for spec in names:
            name = Path(spec).name  # a rule's name, or a trained Verbalizer's directory name
            config = lambda seed: Stage2Config(  # noqa: E731
                tasks=a.tasks, out=str(Path(a.work) / f"{name}-s{seed}"), policy=a.model, verbalizer=spec,
                rollout="candidates", max_steps=a.steps, learning_rate=a.lr, beta=a.beta,
                num_generations=a.generations, prompts_per_step=a.prompts, max_tasks=a.max_tasks,
                max_prompt_length=a.max_length, seed=seed, logging_steps=1, save_steps=max(a.steps, 1),
                loss_type="grpo")
            verbalizer = frozen_verbalizer(config(seeds[0]), Catalog(tasks.catalog))  # the one Stage 2 trains on
            warm = evaluate(test, make_reasoner("likelihood", a.model, tasks.catalog, max_length=a.max_length),
                            verbalizer, progress=False, system=f"warm start / {name}")
            base = base or warm  # the template baseline: the warm start reading the first (raw) verbalizer
            results.append(warm)
            for seed in seeds:
                cfg = config(seed)
                t0 = time.perf_counter()
                out = train_reasoner(cfg, resume=Path(cfg.out).exists())
                wall = time.perf_counter() - t0
                res = evaluate(test, make_reasoner("likelihood", str(out), tasks.catalog, max_length=a.max_length),
                               verbalizer, progress=False, system=f"stage2 / {name} / seed {seed}")
                results.append(res)
                trained[name, seed] = res
                rewards = [h["reward"] for h in json.loads((out / "verbalrec_run.json").read_text())["log_history"]
                           if "reward" in h]
                k = max(1, len(rewards) // 5)
                run = {"verbalizer": name, "seed": seed, "recall@1_discovery": res.summary["recall@1_discovery"],
                       "warmstart_recall@1_discovery": warm.summary["recall@1_discovery"],
                       **paired("delta_vs_warmstart_pct", res, warm), **paired("delta_vs_template_pct", res, base),
                       "reward_first_fifth": sum(rewards[:k]) / k, "reward_last_fifth": sum(rewards[-k:]) / k,
                       "train_s": round(wall, 1), "s_per_step": round(wall / max(a.steps, 1), 2)}
                if spec != names[0]:  # Table 2: Stage 2 on verbalized contexts vs Stage 2 on raw ones, same seed
                    run.update(paired("delta_vs_raw_pct", res, trained[Path(names[0]).name, seed]))
                runs.append(run)
                log(f"{name} seed {seed}: {run}")
    doc = results_json(results, base)
    print_table(doc, title=f"Stage 2 vs its warm start, {len(test)} test tasks (Δ% vs {base.system})")
    for r in runs:
        extra = f", vs raw {fmt_delta(r, 'delta_vs_raw_pct')}" if "delta_vs_raw_pct" in r else ""
        print(f"{r['verbalizer']} seed {r['seed']}: {r['warmstart_recall@1_discovery']:.3f} -> "
              f"{r['recall@1_discovery']:.3f}, vs warm start {fmt_delta(r, 'delta_vs_warmstart_pct')}{extra}; "
              f"reward {r['reward_first_fifth']:+.2f} -> {r['reward_last_fifth']:+.2f}; {r['s_per_step']} s/step")
    write_json(Path(a.out), {"command": " ".join(sys.argv), "n_tasks": len(test), "verbalizers": names,
                             "runs": runs, "config": dataclasses.asdict(cfg), **doc})
    log(f"wrote {a.out}")


def paired(key: str, res, baseline) -> dict:
    d, lo, hi = res.delta_over(baseline)
    return {key: d, f"{key}_ci95": [lo, hi]}


def fmt_delta(run: dict, key: str) -> str:
    lo, hi = run[f"{key}_ci95"]
    return f"{run[key]:+.1f}% [{lo:+.1f}, {hi:+.1f}]"


if __name__ == "__main__":
    main()
