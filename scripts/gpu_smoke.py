"""GPU smoke check: the whole training path on one CUDA GPU in <= 8 minutes, nothing downloaded.

Synthetic logs -> tasks -> an in-project ~52M-parameter model (size ``medium``) -> a dense warm
start -> 20 Stage 1 GRPO steps (bf16, the warm-started model as a local likelihood oracle) ->
20 Stage 2 GRPO steps (bf16, LoRA, over the Stage 1 verbalizer) -> an evaluation; every stage is
the ``verbalrec`` command a user would run. It prints each stage's wall time, each GRPO step's
time, loss and reward, the evaluation table, and fails when the total exceeds the budget.

It first checks its imports (torch, transformers, accelerate, peft, trl, datasets; vllm optional)
and says what to install; ``--dry-run`` stops after the import and config checks and prints the
plan (what CI runs: no GPU needed).

usage: scripts/gpu_smoke.sh [--out DIR] [--steps 20] [--budget-s 480] [--vllm] [--dry-run | --cpu-rehearsal]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = {"torch": "torch (the CUDA build for your driver: https://pytorch.org/get-started/locally/)",
            "transformers": "'transformers>=5.0,<6'", "accelerate": "'accelerate>=1.0'", "peft": "'peft>=0.17'",
            "trl": "'trl>=1.0,<2'", "datasets": "'datasets>=3.0'"}
OPTIONAL = {"vllm": "'trl[vllm]' (vLLM rollouts, --vllm)"}


def missing_imports(names) -> list[str]:
    """One 'pip install' line per module of ``names`` that cannot be imported."""
    return [f"missing {n}: pip install {REQUIRED.get(n, OPTIONAL.get(n, n))}" for n in names
            if importlib.util.find_spec(n) is None]


def check_imports(use_vllm: bool) -> dict:
    """Versions of what is there; exits 3 naming what to install when something is missing. No
    network? Download the wheels elsewhere (pip download PKG) and pip install --no-index them."""
    problems = missing_imports(list(REQUIRED) + (["vllm"] if use_vllm else []))
    if importlib.util.find_spec("verbalrec") is None:
        sys.path.insert(0, str(ROOT / "src"))  # a checkout without pip install: use its src/
        os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    if problems:
        print("gpu_smoke: imports:\n  " + "\n  ".join(problems), file=sys.stderr)
        print("  (no network here? `pip download` the wheels on a machine with one, then "
              "`pip install --no-index <wheels>`)", file=sys.stderr)
        sys.exit(3)
    from importlib import metadata
    found = {n: metadata.version(n) for n in REQUIRED}
    found["vllm"] = metadata.version("vllm") if importlib.util.find_spec("vllm") else None
    return found


#: the GPU run, and a CPU rehearsal of the same commands at toy sizes (--cpu-rehearsal)
SCALES = {"gpu": dict(users=2000, events=60, size="medium", ws_tasks=3000, ws_steps=200, batch=16, length=512,
                      tasks=400, tokens=128, limit=200),
          "cpu": dict(users=60, events=30, size="tiny", ws_tasks=100, ws_steps=4, batch=4, length=256,
                      tasks=8, tokens=16, limit=10)}


def plan(out: Path, steps: int, use_vllm: bool, scale: str = "gpu") -> list[tuple[str, list[str]]]:
    """(stage name, verbalrec argv) in order."""
    k = SCALES[scale]
    tasks, ws, s1, s2 = out / "tasks", out / "warmstart", out / "stage1", out / "stage2"
    grpo = ["--max-steps", steps, "--logging-steps", 1, "--save-steps", 1000, "--bf16", "true",
            "--num-generations", 4, "--max-prompt-length", 512, "--beta", 0.04, "--seed", 0, "--max-tasks", k["tasks"]]
    vllm = ["--use-vllm", "true", "--vllm-mode", "colocate"] if use_vllm else []
    stages = [
        ("synthetic logs", ["data", "synth", "--n-users", k["users"], "--events-per-user", k["events"],
                            "--out", out / "logs"]),
        ("tasks", ["tasks", "build", out / "logs", "--history-len", 20, "--quiet", "--out", tasks]),
        (f"warm start ({k['size']}, fp32)", ["train", "warmstart", "--tasks", tasks, "--out", ws, "--size", k["size"],
                                             "--max-tasks", k["ws_tasks"], "--max-steps", k["ws_steps"],
                                             "--batch-size", k["batch"], "--max-length", k["length"],
                                             "--learning-rate", 1e-3, "--save-steps", 1000]),
        ("stage 1 (bf16)", ["train", "verbalizer", "--tasks", tasks, "--out", s1, "--policy", ws, "--oracle", ws,
                            "--kind", "rewrite", "--prompts-per-step", 4, "--max-completion-length", k["tokens"],
                            "--learning-rate", 1e-5, "--use-chat-template", "false", "--oracle-max-length", 640,
                            *grpo, *vllm]),
        ("stage 2 (bf16, LoRA)", ["train", "reasoner", "--tasks", tasks, "--out", s2, "--policy", ws,
                                  "--verbalizer", s1, "--verbalizer-max-new-tokens", k["tokens"],
                                  "--prompts-per-step", 8, "--learning-rate", 1e-5, "--lora-r", 16, *grpo]),
        ("evaluation", ["eval", tasks, "--rankers", "popularity,likelihood,generative", "--model", s2,
                        "--verbalizers", "template,heuristic", "--limit", k["limit"], "--baseline",
                        "template/likelihood", "--out", out / "eval.json", "--quiet"]),
    ]
    return [(name, [str(a) for a in argv]) for name, argv in stages]


def check_configs(stages, out: Path) -> None:
    """Every training stage's flags make a valid config (as ``verbalrec train`` would build it)."""
    from verbalrec.cli import _train_stages, build_parser
    from verbalrec.config import given

    parser = build_parser()
    for name, argv in stages:
        if argv[0] != "train":
            parser.parse_args(argv)
            continue
        if argv[1] == "reasoner":  # its verbalizer is Stage 1's output, not there yet: any directory stands in
            argv = [tempfile.gettempdir() if a == str(out / "stage1") else a for a in argv]
        cls = _train_stages()[argv[1]][0]
        cls(**given(parser.parse_args(argv), cls))


def run_stage(name: str, argv: list[str], log: Path) -> float:
    """``verbalrec ARGV`` in a fresh process, its output in ``log``; exits with its code if it fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log, "w") as f:
        rc = subprocess.run([sys.executable, "-m", "verbalrec.cli", *argv], stdout=f, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - t0
    if rc:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        print(f"gpu_smoke: {name} failed (exit {rc}); last lines of {log}:\n{tail}", file=sys.stderr)
        sys.exit(rc)
    print(f"[{wall:6.1f}s] {name}", flush=True)
    return wall


def print_steps(run_dir: Path) -> None:
    """Each logged GRPO step: its time, loss and mean reward (TRL's step_time, loss, reward)."""
    run = json.loads((run_dir / "verbalrec_run.json").read_text())
    for h in run["log_history"]:
        if "step_time" in h:
            print(f"    step {h['step']:3d}  {h['step_time']:6.2f}s  loss {h.get('loss', float('nan')):+.4f}  "
                  f"reward {h.get('reward', float('nan')):+.3f}")
    print(f"    {run['steps_run']} steps, {run['s_per_step']} s/step")


def print_eval(path: Path) -> None:
    doc = json.loads(path.read_text())
    for r in doc["results"]:
        print(f"    {r['system']:<28} Recall@1 Disc {r['recall@1_discovery']:.3f}  NDCG@10 {r['ndcg@10']:.3f}"
              f"  valid {r['valid_ratio']:.2f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="gpu_smoke.sh", description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="work directory (default: a new temporary one)")
    p.add_argument("--steps", type=int, default=20, help="GRPO steps of Stage 1 and of Stage 2")
    p.add_argument("--budget-s", type=float, default=480.0, help="fail when the whole run takes longer")
    p.add_argument("--vllm", action="store_true", help="Stage 1 rollouts with vLLM colocated (needs vllm)")
    p.add_argument("--dry-run", action="store_true", help="check imports and configs, print the plan, train nothing")
    p.add_argument("--cpu-rehearsal", action="store_true",
                   help="run the same commands at toy sizes on the CPU (bf16 is then ignored): tests the script itself")
    args = p.parse_args(argv)
    versions = check_imports(args.vllm)
    print("imports: " + ", ".join(f"{k} {v or 'not installed (optional)'}" for k, v in versions.items()))
    from verbalrec.errors import InputError
    try:
        if args.steps < 1:
            raise InputError(f"--steps {args.steps} trains nothing", field="steps", fix="use e.g. --steps 20")
        if args.budget_s <= 0:
            raise InputError("must be > 0 seconds", field="budget-s", fix="use e.g. --budget-s 480")
        out = Path(args.out or tempfile.mkdtemp(prefix="verbalrec-gpu-smoke-"))
        if out.exists() and any(out.iterdir()) and not args.dry_run:
            raise InputError("work directory is not empty", file=out, fix="give a new --out (or none)")
        stages = plan(out, args.steps, args.vllm, "cpu" if args.cpu_rehearsal else "gpu")
        check_configs(stages, out)
    except InputError as err:
        print(f"gpu_smoke: error: {err}", file=sys.stderr)
        return 2
    print("configs: ok\nplan:\n" + "\n".join(f"  {name}: verbalrec {' '.join(a)}" for name, a in stages))
    if args.dry_run:
        print("dry run: nothing trained")
        return 0
    import torch
    if not torch.cuda.is_available() and not args.cpu_rehearsal:
        print("gpu_smoke: error: no CUDA GPU visible — fix: run on a GPU machine, or pass --dry-run for the "
              "CPU-safe checks", file=sys.stderr)
        return 4
    if torch.cuda.is_available():
        print(f"device: {torch.cuda.get_device_name(0)}, bf16 supported: {torch.cuda.is_bf16_supported()}")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for i, (name, argv) in enumerate(stages):
        run_stage(name, argv, out / "logs" / f"{i}-{argv[1] if argv[0] == 'train' else argv[0]}.log")
        if argv[0] == "train" and argv[1] != "warmstart":
            print_steps(Path(argv[argv.index("--out") + 1]))
    print_eval(out / "eval.json")
    total = time.perf_counter() - t0
    print(f"total {total:.0f}s (budget {args.budget_s:.0f}s) -> {out}")
    if total > args.budget_s:
        print(f"gpu_smoke: error: took {total:.0f}s, over the {args.budget_s:.0f}s budget", file=sys.stderr)
        return 5
    return 0

if __name__ == "__main__":
    sys.exit(main())
