"""Training steps of ``verbalrec reproduce`` on several processes.

With ``num_processes > 1`` (or an ``accelerate_config``) each training step runs as a fresh
``accelerate launch -m verbalrec.cli train <stage> --config <step>/train_config.yaml`` -- exactly
the command a user would type -- while this process keeps the step cache, the evaluations and the
report (run once). A subprocess rather than ``accelerate.notebook_launcher``: the launcher forks
the current process, which fails once CUDA is initialised here (the evaluations use the GPU), it
cannot take a DeepSpeed/FSDP config file, and forked workers would inherit every model this
process holds. A fresh launch also frees the training memory when the step ends.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from ..atomic import write_text
from ..errors import InputError

#: reproduce section -> the verbalrec command that trains it
COMMANDS = {"warmstart": ["train", "warmstart"], "sft": ["train", "sft-verbalizer"], "stage1": ["train", "verbalizer"],
            "stage2": ["train", "reasoner"], "langptune": ["langptune"]}
CONFIG_FILE, LOG_FILE = "train_config.yaml", "launch.log"


class LaunchError(RuntimeError):
    """A launched training step failed for a reason other than bad input."""


def launched(cfg) -> bool:
    """Whether ``cfg`` (a ReproduceConfig) runs its training steps through accelerate."""
    return cfg.num_processes > 1 or bool(cfg.accelerate_config)


def launch_spec(cfg) -> dict:
    """What a step's cache key adds under a launch (nothing for one process, so the caches of
    single-process runs stay valid): more processes are a larger effective batch."""
    if not launched(cfg):
        return {}
    spec = {"num_processes": cfg.num_processes}
    if cfg.accelerate_config:
        spec["accelerate_config"] = hashlib.sha256(Path(cfg.accelerate_config).read_bytes()).hexdigest()[:12]
    return spec


def free_port() -> int:
    """A free loopback port for the process group (accelerate's default 29500 clashes with any
    other run on the machine)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(cfg, section: str, config_path: Path, resume: bool) -> list[str]:
    """The ``accelerate launch`` command line of one step. Without a config file, ``--multi_gpu``
    is what makes accelerate start N processes (torchrun); on a machine without CUDA each one
    then joins a gloo group on the CPU."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(cfg.num_processes),
           "--num_machines", "1", "--main_process_port", str(free_port())]
    if cfg.accelerate_config:
        cmd += ["--config_file", str(cfg.accelerate_config)]
    else:
        cmd += ["--multi_gpu", "--mixed_precision", "no", "--dynamo_backend", "no"]
    return cmd + ["-m", "verbalrec.cli", *COMMANDS[section], "--config", str(config_path)] + (
        ["--resume"] if resume else [])


def write_config(stage_cfg, path: Path) -> None:
    """The stage's resolved config as YAML (through JSON: tuples become lists, which the stage
    configs turn back)."""
    write_text(path, yaml.safe_dump(json.loads(json.dumps(dataclasses.asdict(stage_cfg))), sort_keys=True))


def run_step(cfg, section: str, stage_cfg, step_dir: Path, resume: bool, log=print) -> None:
    """Train ``stage_cfg`` (a stage config whose ``out`` is in ``step_dir``) under accelerate;
    the child's output goes to ``step_dir/launch.log``. A child's InputError is raised here as one."""
    config_path = step_dir / CONFIG_FILE
    write_config(stage_cfg, config_path)
    cmd = command(cfg, section, config_path, resume)
    free_models()
    env = {**os.environ, **({"OMP_NUM_THREADS": str(cfg.cpu_threads)} if cfg.cpu_threads else {})}
    log(f"[launch] {' '.join(cmd[1:])}")
    with open(step_dir / LOG_FILE, "ab") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
    if rc:
        raise failure(rc, step_dir / LOG_FILE, section)


def failure(rc: int, log_path: Path, section: str) -> Exception:
    """An InputError when the child stopped on bad input (its one ``verbalrec: error:`` line),
    else a LaunchError naming the log and its last lines."""
    lines = log_path.read_text(errors="replace").splitlines()
    errors = [ln.split("verbalrec: error: ", 1)[1] for ln in lines if "verbalrec: error: " in ln]
    if errors:
        return InputError(f"{section} step: {errors[-1]}")
    tail = "\n".join(lines[-15:])
    return LaunchError(f"{section} step failed under accelerate launch (exit {rc}); see {log_path}:\n{tail}")


def free_models() -> None:
    """Drop the models this process loaded for evaluation before the launched processes need
    the memory (on a GPU, the parent's copy would sit on rank 0's device)."""
    import gc

    from ..reason import _LOADED

    import torch

    _LOADED.clear()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
