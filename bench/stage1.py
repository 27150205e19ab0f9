"""Benchmark: Stage 1 of the constrained action verbalizer (one keep/drop/enrich token per
interaction) against the template, where verbalization can matter (long, noisy histories under the
Reasoner's token budget).

Given a task folder and a frozen oracle Reasoner (e.g. ``bench/reasoner.py``'s, or a reproduce
run's warm start), it trains the action policy by Stage 1 GRPO for each ``--seeds`` (policy = the
oracle's own weights, as the main job does), then scores on all test tasks, read by the oracle and by
a second Reasoner it was not trained against (MiniLM embeddings): the template, the drop-noise
executor (the heuristic's keep/drop decisions, no enrichment) and each seed's learned policy, with
paired-bootstrap CIs vs the template, planted noise removed, engaged titles kept, and the reward
curve (mean of the first vs last fifth of steps). Writes one JSON. Usage:

    python bench/stage1.py --tasks DIR --oracle MODEL_DIR --out docs/results/stage1/synthetic.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import numpy as np  # noqa: E402

from verbalrec.atomic import write_json  # noqa: E402
from verbalrec.evaluate.loop import evaluate  # noqa: E402
from verbalrec.logs.catalog import Catalog  # noqa: E402
from verbalrec.logs.schema import NOISE_ENGAGEMENTS  # noqa: E402
from verbalrec.models.threads import cpu_threads  # noqa: E402
from verbalrec.reason import make_reasoner  # noqa: E402
from verbalrec.rewards import title_coverage  # noqa: E402
from verbalrec.tasks import load_tasks  # noqa: E402
from verbalrec.train.grpo_config import Stage1Config  # noqa: E402
from verbalrec.train.stage1 import history_titles, train_verbalizer  # noqa: E402
from verbalrec.verbalize import make_verbalizer  # noqa: E402
from verbalrec.verbalize.action import execute_actions, heuristic_actions  # noqa: E402
from verbalrec.verbalize.kinds import load_verbalizer_model  # noqa: E402


class DropNoise:
    """The heuristic's keep/drop decisions, nothing enriched: what a perfect noise filter writes."""

    name, version = "drop-noise", "1"

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    def verbalize(self, tasks):
        return [execute_actions(t, [(k, 0) for k, _ in heuristic_actions(t, self.catalog)], self.catalog) for t in tasks]


class Fixed:
    """Texts written once, read by several Reasoners."""

    def __init__(self, name: str, texts: dict):
        self.name, self.version, self.texts = name, "1", texts

    def verbalize(self, tasks):
        return [self.texts[t.task_id] for t in tasks]


def noise_and_kept(tasks, texts, catalog: Catalog) -> dict:
    """Share of noise-only titles absent from the text; mean share of engaged titles the text names;
    share of the text's lines that are a bare title (the ``short`` decision's lines)."""
    removed, kept, short = [], [], []
    for t, text in zip(tasks, texts):
        eng = t.hist_engagement or [None] * len(t.hist_item)
        engaged = set(history_titles(t, catalog))
        noise_only = {catalog.title(i) for i, e in zip(t.hist_item, eng) if e in NOISE_ENGAGEMENTS} - engaged
        low = text.lower()
        removed += [title.lower() not in low for title in noise_only]
        kept.append(title_coverage(text, sorted(engaged)))
        bare = {catalog.title(i) for i in t.hist_item}
        short += [line in bare for line in text.splitlines()]
    return {"noise_removed": float(np.mean(removed)) if removed else None, "engaged_titles_kept": float(np.mean(kept)),
            "short_lines": float(np.mean(short)) if short else 0.0}


def curve(run_dir: Path) -> dict:
    history = json.loads((run_dir / "verbalrec_run.json").read_text())["log_history"]
    r = [h["reward"] for h in history if "reward" in h]
    k = max(1, len(r) // 5)
    first, last = np.array(r[:k]), np.array(r[-k:])
    return {"steps_logged": len(r), "first_fifth_mean": float(first.mean()), "first_fifth_sd": float(first.std()),
            "last_fifth_mean": float(last.mean()), "last_fifth_sd": float(last.std()),
            "accuracy": [h.get("rewards/accuracy/mean", h.get("rewards/probability/mean")) for h in history if "reward" in h],
            "compression_ratio": [h.get("rewards/compression_ratio/mean") for h in history if "reward" in h]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", required=True)
    ap.add_argument("--oracle", required=True, help="frozen oracle Reasoner (a model directory, or with --oracle-mode "
                    "embedding a sentence-transformers name/directory)")
    ap.add_argument("--oracle-mode", default="likelihood", help="likelihood (the in-project LM), embedding (MiniLM) or itemknn-text (kNN over the named titles)")
    ap.add_argument("--policy", default="", help="the policy's start (default: the oracle's weights)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", default="runs/bench-stage1")
    ap.add_argument("--max-length", type=int, default=640, help="the Reasoner's token budget")
    ap.add_argument("--seeds", default="0", help="training seeds, comma-separated")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--decisions", default="keep,drop")
    ap.add_argument("--recency", action="store_true", help="number the policy's lines by age (decision_recency)")
    ap.add_argument("--learning-rate", type=float, default=1e-3)
    ap.add_argument("--generations", type=int, default=8)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--alpha", type=float, default=0.9)
    ap.add_argument("--reward", default="accuracy", help="Stage1Config.reward: accuracy (0/1) or probability (dense)")
    ap.add_argument("--temperature", type=float, default=1.0, help="the policy's sampling temperature in training")
    ap.add_argument("--limit", type=int, default=0, help="score the first N test tasks (0 = all)")
    ap.add_argument("--second", default="", help="the second Reasoner: MiniLM when the oracle is an LM, the policy's "
                    "own LM (likelihood) when the oracle is MiniLM; 'none' skips it")
    a = ap.parse_args()
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    work, policy = Path(a.work), a.policy or a.oracle
    tasks = load_tasks(a.tasks)
    test = tasks.split("test")
    test = test.head(a.limit) if a.limit else test
    catalog = Catalog(tasks.catalog)
    with cpu_threads(1):
        # titles = every line `short`: the format alone, to tell it from what a policy learns to select
        writers = {"template": make_verbalizer("template", tasks.catalog), "drop-noise": DropNoise(catalog),
                   "titles": make_verbalizer("titles", tasks.catalog)}
        runs = {}
        for seed in [int(s) for s in a.seeds.split(",")]:
            out = work / f"action-s{seed}"
            if not (out / "verbalrec_run.json").exists():
                cfg = Stage1Config(tasks=a.tasks, out=str(out), policy=policy, oracle=a.oracle, oracle_mode=a.oracle_mode,
                                   kind="action",
                                   decisions=tuple(a.decisions.split(",")), decision_recency=a.recency,
                                   max_steps=a.steps,
                                   num_generations=a.generations, prompts_per_step=a.prompts,
                                   learning_rate=a.learning_rate, beta=0.0, alpha=a.alpha, reward=a.reward, seed=seed,
                                   temperature=a.temperature,
                                   logging_steps=1, save_steps=max(10, a.steps // 3), oracle_max_length=a.max_length,
                                   cpu_threads=1)
                t0 = time.perf_counter()
                train_verbalizer(cfg, resume=out.exists())
                log(f"seed {seed}: Stage 1 {time.perf_counter() - t0:.0f} s")
            runs[f"stage1-action-s{seed}"] = out
            writers[f"stage1-action-s{seed}"] = load_verbalizer_model(out, catalog)
        texts = {}
        for name, w in writers.items():
            t0 = time.perf_counter()
            texts[name] = dict(zip([t.task_id for t in test.tasks()], w.verbalize(test.tasks())))
            log(f"{name}: verbalized in {time.perf_counter() - t0:.0f} s")
        fit = lambda r: r.fit(tasks.split("train")) if hasattr(r, "fit") else r  # noqa: E731  (readers fit on train)
        readers = {"oracle": fit(make_reasoner(a.oracle_mode, a.oracle, tasks.catalog, max_length=a.max_length))}
        if a.second != "none":
            second = ("embedding", a.second or "all-MiniLM-L6-v2") if a.oracle_mode == "likelihood" else \
                ("likelihood", a.second or policy)
            readers[f"second ({second[0]})"] = fit(make_reasoner(*second, tasks.catalog, max_length=a.max_length))
        doc = {"command": " ".join(sys.argv), "tasks": a.tasks, "oracle": a.oracle, "oracle_mode": a.oracle_mode,
               "policy": policy, "n_tasks": len(test),
               "max_length": a.max_length, "steps": a.steps, "decisions": a.decisions, "recency": a.recency, "learning_rate": a.learning_rate,
               "generations": a.generations, "prompts_per_step": a.prompts, "alpha": a.alpha, "reward": a.reward, "temperature": a.temperature,
               "curves": {n: curve(d) for n, d in runs.items()}, "readers": {}}
        for reader_name, reader in readers.items():
            res = {n: evaluate(test, reader, Fixed(n, texts[n]), progress=False, system=n) for n in writers}
            rows = {}
            for n, r in res.items():
                rows[n] = {"recall@1_discovery": r.summary["recall@1_discovery"],
                           "recall@1_discovery_ci95": r.summary.get("recall@1_discovery_ci95"),
                           **noise_and_kept(test.tasks(), [texts[n][t.task_id] for t in test.tasks()], catalog)}
                if n != "template":
                    d, lo, hi = r.delta_over(res["template"])
                    rows[n]["delta_pct_vs_template"], rows[n]["delta_pct_vs_template_ci95"] = d, [lo, hi]
                log(f"[{reader_name}] {n}: {json.dumps(rows[n])}")
            doc["readers"][reader_name] = rows
    write_json(Path(a.out), doc)
    log(f"wrote {a.out}")


if __name__ == "__main__":
    main()
