"""Benchmark: 1 vs 2 training processes (CPU, gloo) at the same effective batch.

For the warm start and Stage 1 it runs, each in a fresh process group:

* ``1p-s0``: one process, the whole batch, seed 0;
* ``1p-s1``: the same with seed 1 -- how far two equally good runs drift apart (the noise floor);
* ``2p-s0``: ``accelerate launch --multi_gpu --num_processes 2``, half the batch per process, seed 0.

and records steps/s (the Trainer's ``train_runtime``), the loss (warm start) or reward (Stage 1)
curve, and the mean absolute gap between curves. Results go to docs/results/multiprocess.json.

Usage: python bench/data_parallel.py [--work /tmp/mp-bench] [--ws-steps 60] [--s1-steps 24]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from verbalrec.atomic import write_json
from verbalrec.reproduce.launch import free_port

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results" / "multiprocess.json"


def verbalrec(args: list[str], n: int, log: Path) -> float:
    """``verbalrec ARGS`` in one process, or under accelerate with ``n``; returns wall seconds."""
    head = [sys.executable, "-m", "verbalrec.cli"] if n == 1 else [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(n),
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()), "-m", "verbalrec.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    with open(log, "w") as f:
        subprocess.run(head + [str(a) for a in args], stdout=f, stderr=subprocess.STDOUT, env=env, check=True)
    return time.perf_counter() - t0


def curve(run: dict, key: str) -> list[float]:
    return [h[key] for h in run["log_history"] if key in h]


def measure(name: str, args: list[str], split: dict, key: str, work: Path) -> dict:
    """The three runs of one trainer; ``split`` maps the per-device batch flag to (1p, 2p) values."""
    flag, (whole, half) = next(iter(split.items()))
    out = {}
    for tag, n, seed, batch in (("1p-s0", 1, 0, whole), ("1p-s1", 1, 1, whole), ("2p-s0", 2, 0, half)):
        d = work / f"{name}-{tag}"
        wall = verbalrec([*args, "--out", d, "--seed", seed, flag, batch], n, work / f"{name}-{tag}.log")
        run = json.loads((d / "verbalrec_run.json").read_text())
        final = next(h for h in reversed(run["log_history"]) if "train_runtime" in h)
        steps = max(h.get("step", 0) for h in run["log_history"])
        out[tag] = {"processes": n, "per_device_batch": batch, "seed": seed, "steps": steps,
                    "train_runtime_s": round(final["train_runtime"], 1), "wall_s": round(wall, 1),
                    "steps_per_s": round(steps / final["train_runtime"], 3), key: curve(run, key)}
        print(f"{name} {tag}: {out[tag]['steps_per_s']} steps/s, {key} {np.round(out[tag][key], 3).tolist()}",
              flush=True)
    a, b, c = (np.array(out[t][key]) for t in ("1p-s0", "1p-s1", "2p-s0"))
    out["gap"] = {"1p-s0 vs 2p-s0": round(float(np.mean(np.abs(a - c))), 4),
                  "1p-s0 vs 1p-s1 (noise floor)": round(float(np.mean(np.abs(a - b))), 4),
                  "speedup_2p": round(out["2p-s0"]["steps_per_s"] / out["1p-s0"]["steps_per_s"], 2)}
    print(f"{name} gap: {out['gap']}", flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", default="/tmp/mp-bench")
    p.add_argument("--ws-steps", type=int, default=60)
    p.add_argument("--s1-steps", type=int, default=24)
    a = p.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    tasks = work / "tasks"
    if not tasks.exists():
        verbalrec(["tasks", "build", "ml-100k", "--preset", "paper", "--history-len", "20", "--quiet", "--out", tasks],
                  1, work / "tasks.log")
    common = ["--max-tasks", 2000, "--size", "small", "--max-length", 256, "--max-steps", a.ws_steps,
              "--save-steps", 1000, "--learning-rate", 3e-3, "--prompt-share", 0.3]
    doc = {"machine": {"cpus": os.cpu_count(), "load_avg_start": os.getloadavg(), "python": platform.python_version()},
           "date": time.strftime("%Y-%m-%d")}
    doc["warmstart"] = measure("warmstart", ["train", "warmstart", "--tasks", tasks, *common],
                               {"--batch-size": (8, 4)}, "loss", work)
    policy = work / "warmstart-1p-s0"
    s1 = ["train", "verbalizer", "--tasks", tasks, "--policy", policy, "--oracle", policy, "--max-tasks", 400,
          "--max-steps", a.s1_steps, "--num-generations", 4, "--max-prompt-length", 256, "--max-completion-length", 64,
          "--learning-rate", 5e-5, "--beta", 0, "--logging-steps", 2, "--save-steps", 1000, "--cpu-threads", 1,
          "--use-chat-template", "false", "--oracle-max-length", 384]
    doc["stage1"] = measure("stage1", s1, {"--prompts-per-step": (2, 1)}, "reward", work)
    doc["machine"]["load_avg_end"] = os.getloadavg()
    write_json(RESULTS, doc)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
