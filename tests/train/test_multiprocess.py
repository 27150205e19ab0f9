"""Two training processes on CPU (gloo) under ``accelerate launch``: every trainer completes, one
process writes one model and one provenance file, and a killed run resumes to the same weights."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from verbalrec.reproduce.launch import free_port

HERE = Path(__file__).parent
NAMES = ("warmstart", "sft", "stage1", "stage2", "langptune")
pytestmark = pytest.mark.multiprocess


def launch(script: Path, *args, n: int = 2, timeout: int = 600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(n),
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(free_port()), str(script), *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(HERE.parents[1] / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def runs(env):
    root = env["root"] / "mp"
    proc = launch(HERE / "multiprocess_runs.py", root, env["tasks"], env["model"])
    return root, proc.stdout


def run_of(out: Path) -> dict:
    return json.loads((out / "verbalrec_run.json").read_text())


def weights(out: Path) -> dict:
    from safetensors.torch import load_file
    return load_file(str(out / "model.safetensors"))


@pytest.mark.parametrize("name", NAMES)
def test_each_trainer_writes_one_model_and_one_provenance_from_two_processes(runs, name):
    root, _ = runs
    out = root / name / "full"
    run = run_of(out)
    assert run["num_processes"] == 2
    assert sorted(p.name for p in out.glob("*.safetensors")) == ["model.safetensors"]
    assert [p.name for p in out.glob("verbalrec_run*")] == ["verbalrec_run.json"]
    assert not list(out.glob(".*.tmp"))  # no half-written file left by a second writer
    ckpt = out / "checkpoints" / "checkpoint-2"
    # transformers writes one model and one trainer state, and the RNG state of each process
    assert sorted(p.name for p in ckpt.glob("rng_state*")) == ["rng_state_0.pth", "rng_state_1.pth"]
    assert len(list(ckpt.glob("trainer_state.json"))) == 1
    if name != "warmstart":
        assert run["global_step"] == 4


@pytest.mark.parametrize("name", NAMES)
def test_a_killed_two_process_run_resumes_to_the_same_weights(runs, name):
    root, _ = runs
    full, part = root / name / "full", root / name / "part"
    if name != "warmstart":  # the warm start records no step counts
        assert run_of(part)["resumed_from_step"] == 2 and run_of(part)["global_step"] == 4
    # LoRA (stage2): its checkpoint holds the adapter; compare the merged model with the base
    start = weights(Path(run_of(full)["config"]["policy"]) if name == "stage2" else full / "checkpoints" / "checkpoint-2")
    a, b = weights(full), weights(part)
    assert any(not torch.equal(a[k], start[k]) for k in a)  # steps 3-4 changed the weights ...
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)  # ... the same way in both runs


def test_only_the_main_process_prints_and_stage2_verbalizes_each_history_once(runs):
    root, stdout = runs
    assert stdout.count("wrote ") == 2 * len(NAMES)  # one line per run, not one per process
    s2 = run_of(root / "stage2" / "full")
    assert s2["generated"] == s2["examples"]  # the shares of the two processes add up, none twice
    assert (root / "stage2" / "full" / "adapter" / "adapter_config.json").exists()
    lpt = json.loads((root / "langptune" / "part" / "langptune.json").read_text())
    assert lpt["rows"] and lpt["meta"]["n_tasks"] == 4  # evaluated once, by the main process


def test_the_helpers_agree_across_two_processes(tmp_path):
    launch(HERE / "distributed_checks.py", tmp_path)
    r0, r1 = (json.loads((tmp_path / f"rank{k}.json").read_text()) for k in (0, 1))
    assert r0["world_size"] == r1["world_size"] == 2 and (r0["main"], r1["main"]) == (True, False)
    assert r0["share"] == [0, 2, 4] and r1["share"] == [1, 3]
    assert r0["gathered"] == r1["gathered"] == ["r0a", "r1a", "r1b"]  # rank order, every process
    assert not r0["seen_before"] and not r1["seen_before"] and r0["seen_after"] and r1["seen_after"]
    assert (r0["on_main_value"], r1["on_main_value"]) == (7, None)
    torch.manual_seed(0)
    main_weights = [p.detach().flatten().tolist() for p in torch.nn.Linear(3, 2).parameters()]
    assert r0["weights"] == r1["weights"] == main_weights
