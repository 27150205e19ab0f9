"""reproduce with num_processes > 1: each training step is an ``accelerate launch`` of the train
command; evaluation, the cache and the report stay in this process."""

import json
import shutil
from pathlib import Path

import pytest

from verbalrec.errors import InputError
from verbalrec.reproduce import ReproduceConfig, run_reproduce
from verbalrec.reproduce.launch import command, failure, launch_spec

from test_pipeline import TINY

# the tiny preset cut to one verbalizer kind and no ablations: 4 launched steps
TWO = {**TINY, "name": "tiny-2proc", "kinds": ("rewrite",), "ablations": (), "verbalizer_sft": False,
       "num_processes": 2,
       "stage2": {**TINY["stage2"], "save_steps": 1}}


@pytest.fixture(scope="module")
def run2(tmp_path_factory):
    cfg = ReproduceConfig(out=str(tmp_path_factory.mktemp("reproduce2")), **TWO)
    lines = []
    return cfg, run_reproduce(cfg, command="test", log=lines.append), lines


def step_dir(cfg, name: str) -> Path:
    return next(Path(cfg.out, "steps").glob(f"{name}-*"))


@pytest.mark.multiprocess
def test_two_process_reproduce_runs_end_to_end_and_launches_each_training_step(run2):
    cfg, doc, lines = run2
    launched = [ln for ln in lines if ln.startswith("[launch]")]
    assert len(launched) == 4 and all("--num_processes 2" in ln for ln in launched)
    for name in ("warmstart", "stage1-rewrite", "stage2-verbalized", "langptune"):
        run = json.loads((step_dir(cfg, name) / "model" / "verbalrec_run.json").read_text())
        assert run["num_processes"] == 2, name
    assert {r["system"] for r in doc["table1"]} == {"template", "heuristic", "zero-shot", "stage1-rewrite",
                                                     "stage2-verbalized"}
    assert doc["langptune"]["rows"] and Path(cfg.out, "report.html").exists()
    # evaluations ran here, once each
    assert all(len(list(Path(cfg.out, "steps").glob(f"eval-{s}-*"))) == 1 for s in ("template", "stage1-rewrite"))


@pytest.mark.multiprocess
def test_two_process_steps_are_cached_and_a_killed_one_resumes_under_launch(run2):
    cfg, doc, _ = run2
    lines = []
    again = run_reproduce(cfg, command="test", log=lines.append)
    assert all(s["cached"] for s in again["meta"]["steps"]) and not any(ln.startswith("[launch]") for ln in lines)
    # kill stage 2 after its step-1 checkpoint: no step-2 checkpoint, no final model, no done marker
    s2 = step_dir(cfg, "stage2-verbalized")
    for name in ("done.json", "model/model.safetensors", "model/verbalrec_run.json"):
        (s2 / name).unlink()
    shutil.rmtree(s2 / "model" / "checkpoints" / "checkpoint-2")
    third = run_reproduce(cfg, command="test", log=lines.append)
    assert [s["name"] for s in third["meta"]["steps"] if not s["cached"]] == ["stage2-verbalized",
                                                                              "eval-stage2-verbalized"]
    assert any(ln.startswith("[launch]") and ln.endswith("--resume") for ln in lines)
    run = json.loads((s2 / "model" / "verbalrec_run.json").read_text())
    assert run["resumed_from_step"] == 1 and run["global_step"] == 2 and run["num_processes"] == 2


def test_launch_command_and_cache_key(tmp_path):
    one = ReproduceConfig(**{**TINY, "out": str(tmp_path)})
    assert launch_spec(one) == {}  # one process: single-process caches stay valid
    two = ReproduceConfig(**{**TINY, "out": str(tmp_path), "num_processes": 2})
    cmd = command(two, "stage1", tmp_path / "c.yaml", resume=True)
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"] and "--multi_gpu" in cmd
    assert cmd[cmd.index("-m", 3):] == ["-m", "verbalrec.cli", "train", "verbalizer", "--config",
                                        str(tmp_path / "c.yaml"), "--resume"]
    (tmp_path / "zero3.yaml").write_text("distributed_type: DEEPSPEED\n")
    ds = ReproduceConfig(**{**TINY, "out": str(tmp_path), "num_processes": 8,
                            "accelerate_config": str(tmp_path / "zero3.yaml")})
    cmd = command(ds, "langptune", tmp_path / "c.yaml", resume=False)
    assert "--multi_gpu" not in cmd and cmd[cmd.index("--config_file") + 1] == str(tmp_path / "zero3.yaml")
    assert cmd[-3:] == ["langptune", "--config", str(tmp_path / "c.yaml")]
    assert launch_spec(ds)["num_processes"] == 8 and launch_spec(ds) != launch_spec(two)


def test_a_launched_steps_bad_input_comes_back_as_one_input_error(tmp_path):
    log = tmp_path / "launch.log"
    log.write_text("[rank0]: noise\nverbalrec: error: field 'lora_r': must be >= 0 — fix: use 0 or more\n")
    err = failure(2, log, "stage1")
    assert isinstance(err, InputError) and "lora_r" in str(err) and "fix:" in str(err)
    log.write_text("Traceback ...\nRuntimeError: boom\n")
    err = failure(1, log, "stage1")
    assert not isinstance(err, InputError) and "boom" in str(err) and str(log) in str(err)


@pytest.mark.parametrize("kw, field", [({"num_processes": 0}, "num_processes"),
                                       ({"accelerate_config": "/no/such.yaml"}, "accelerate_config")])
def test_bad_launch_fields_name_the_field(kw, field):
    with pytest.raises(InputError) as err:
        ReproduceConfig(**{**TINY, **kw})
    assert err.value.field == field and err.value.fix


def test_reproduce_itself_refuses_to_run_under_a_launcher(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(InputError) as err:
        run_reproduce(ReproduceConfig(**{**TINY, "out": str(tmp_path)}), log=lambda _: None)
    assert err.value.field == "num_processes" and "without accelerate launch" in err.value.fix
