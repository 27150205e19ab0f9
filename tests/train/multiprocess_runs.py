"""Run by test_multiprocess.py under ``accelerate launch --num_processes 2``: every trainer through
its CLI command, each a full 4-step run, then a copy cut back to its step-2 checkpoint (as if killed
after step 2) resumed to step 4. One launch for all, so the process start-up is paid once.

usage: multiprocess_runs.py ROOT TASKS MODEL
"""

import shutil
import sys
from pathlib import Path

from verbalrec.cli import main
from verbalrec.train import distributed

root, tasks, model = (Path(a) for a in sys.argv[1:4])
GRPO = ["--max-tasks", "8", "--num-generations", "2", "--prompts-per-step", "1", "--max-prompt-length", "160",
        "--logging-steps", "1", "--beta", "0", "--learning-rate", "1e-2", "--cpu-threads", "1"]
RUNS = {
    "warmstart": ["train", "warmstart", "--size", "tiny", "--max-length", "256", "--batch-size", "2",
                  "--learning-rate", "1e-2"],
    "sft": ["train", "sft-verbalizer", "--model", str(model), "--max-tasks", "8", "--max-prompt-length", "160",
            "--max-length", "256", "--batch-size", "2", "--learning-rate", "1e-2"],
    "stage1": ["train", "verbalizer", "--policy", str(model), "--oracle", str(model), "--max-completion-length", "16",
               "--faithfulness-gate", "false", *GRPO],  # an untrained tiny rewrite names no title: gated, no update
    # the frozen verbalizer is the Stage 1 model (each process verbalizes its share); LoRA, merged on save
    "stage2": ["train", "reasoner", "--policy", str(model), "--verbalizer", str(root / "stage1" / "full"),
               "--verbalizer-max-new-tokens", "16", "--lora-r", "4", *GRPO],
    # the SFT'ed model as writer: it sometimes ends a profile within the cap, so rewards differ in a group
    "langptune": ["langptune", "--writer", str(root / "sft" / "full"), "--max-completion-length", "32",
                  "--eval-limit", "4", "--contrastive-every", "2", *GRPO],
}
FINAL = ("verbalrec_run.json", "langptune.json", "adapter")


def cut_back(full: Path, part: Path) -> None:
    """``full`` as a run killed after its step-2 checkpoint: no step-4 checkpoint, no final results."""
    shutil.copytree(full, part, ignore=shutil.ignore_patterns("checkpoint-4"))
    for name in FINAL:
        path = part / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


def run(argv: list[str]) -> None:
    code = main([str(a) for a in argv])
    if code:
        raise SystemExit(f"{argv[:2]} exited {code}")


for name, argv in RUNS.items():
    common = [*argv, "--tasks", str(tasks), "--max-steps", "4", "--save-steps", "2", "--seed", "0"]
    run([*common, "--out", root / name / "full"])
    distributed.on_main(cut_back, root / name / "full", root / name / "part")
    run([*common, "--out", root / name / "part", "--resume"])
