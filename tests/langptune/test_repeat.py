"""A seeded LangPTune run repeats exactly in a fresh process on the same machine and packages:
the trained writer's weights and every number of langptune.json (issue 15, item 8)."""

import json
import os
import subprocess
import sys


def _run(lpt_env, out):
    cmd = [sys.executable, "-m", "verbalrec.cli", "langptune", "--tasks", lpt_env["tasks"], "--writer", lpt_env["model"],
           "--out", str(out), "--embedding-model", lpt_env["st"], "--max-steps", "2", "--logging-steps", "1",
           "--save-steps", "2", "--max-prompt-length", "160", "--max-completion-length", "12",
           "--num-generations", "4", "--prompts-per-step", "2", "--learning-rate", "1e-2", "--beta", "0",
           "--eval-limit", "0", "--cpu-threads", "1", "--seed", "3"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=600)
    doc = json.loads((out / "langptune.json").read_text())
    doc["meta"].pop("timing"), doc["meta"].pop("train_s"), doc["meta"].pop("config")
    doc["meta"].pop("trained_writer")
    return doc


def test_two_fresh_runs_with_one_seed_are_identical(lpt_env, tmp_path):
    import torch
    from safetensors.torch import load_file
    a, b = _run(lpt_env, tmp_path / "a"), _run(lpt_env, tmp_path / "b")
    assert a == b
    wa, wb = load_file(str(tmp_path / "a" / "model.safetensors")), load_file(str(tmp_path / "b" / "model.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
