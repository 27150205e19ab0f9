"""Benchmark: label scoring (one forward, last-position logits) vs generate-then-parse vs
candidate likelihood, on the same model and tasks.

Prints tasks/s of each, ValidRatio of generation, Recall@1 of each, and how often generation's
parsed answer equals label scoring's argmax where generation is valid.
Usage: python bench/label_vs_generate.py MODEL_DIR TASK_DIR [--n 100] [--verbalizer template]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from verbalrec.metrics import per_task_metrics  # noqa: E402
from verbalrec.models import load_causal_lm  # noqa: E402
from verbalrec.reason.lm import CandidateLikelihoodReasoner, GenerativeReasoner, LabelScoringReasoner  # noqa: E402
from verbalrec.tasks import load_tasks  # noqa: E402
from verbalrec.verbalize import make_verbalizer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("tasks")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--split", default="test")
    ap.add_argument("--verbalizer", default="template")
    ap.add_argument("--max-length", type=int, default=768)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ts = load_tasks(a.tasks).split(a.split).head(a.n)
    tasks = ts.tasks()
    contexts = make_verbalizer(a.verbalizer, ts.catalog).verbalize(tasks)
    model, tok = load_causal_lm(a.model)
    labels = np.array([t.label for t in tasks])
    print(f"{platform.machine()}, torch threads {a.threads}, {len(tasks)} {a.split} tasks, {a.verbalizer} contexts, "
          f"model {a.model}")
    out = {}
    for cls in (LabelScoringReasoner, GenerativeReasoner, CandidateLikelihoodReasoner):
        r = cls(model, tok, ts.catalog, max_length=a.max_length)
        t0 = time.perf_counter()
        s = r.score(tasks, contexts)
        dt = time.perf_counter() - t0
        m = per_task_metrics(s.values, labels, s.valid)
        out[r.name] = s
        print(f"{r.name:11s} {len(tasks) / dt:7.2f} tasks/s  recall@1 {m['hr@1'].mean():.3f}  valid {s.valid.mean():.3f}")
    both = out["generative"].valid
    agree = (out["generative"].predict()[both] == out["label"].predict()[both]).mean() if both.any() else float("nan")
    print(f"generative answer == label-scoring argmax on {agree:.3f} of the {both.sum()} tasks where generation is valid")


if __name__ == "__main__":
    main()
