"""Warm start: dense corpus without test targets, a short TRL run, provenance, resume."""

import json
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from verbalrec.tasks import build_tasks, preset, save_tasks  # noqa: E402
from verbalrec.train.warmstart import WarmStartConfig, corpus, warm_start  # noqa: E402


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory):
    from helpers import tiny_catalog, tiny_events
    from verbalrec.logs.schema import EventLog, validate_catalog, validate_events
    cat = validate_catalog(tiny_catalog())
    log = EventLog(validate_events(tiny_events(), catalog=cat), cat, name="tiny")
    d = tmp_path_factory.mktemp("tasks")
    save_tasks(build_tasks(log, preset("paper", n_candidates=3, train_tasks_per_user=0), progress=False), d)
    return d


def cfg(task_dir, out, **kw):
    return WarmStartConfig(tasks=str(task_dir), out=str(out), size="tiny", max_length=256, batch_size=4,
                           save_steps=2, learning_rate=1e-2, **kw)


def test_corpus_has_the_answer_line_and_no_evaluation_target(task_dir):
    from verbalrec.tasks import load_tasks
    tasks = load_tasks(task_dir)
    texts = corpus(tasks.split("train"), ("template", "heuristic"), None, 256)
    assert len(texts) == 2 * len(tasks.split("train"))
    assert all(t.rstrip().split("\n")[-1].startswith("Answer: ") for t in texts)
    for t in tasks.split("test").tasks():  # the test target's event never appears in the corpus
        stamp = __import__("verbalrec.verbalize.template", fromlist=["format_time"]).format_time(t.target_time)
        assert not any(f"{stamp}, ID: {t.target_item}," in x for x in texts)


def test_short_run_saves_a_loadable_model_with_provenance(task_dir, tmp_path):
    out = warm_start(cfg(task_dir, tmp_path / "m", max_steps=4))
    run = json.loads((out / "verbalrec_run.json").read_text())
    assert run["config"]["size"] == "tiny" and run["data_hash"] and "trl" in run["versions"]
    losses = [h["loss"] for h in run["log_history"] if "loss" in h] or [run["train_loss"]]
    assert all(map(lambda x: x == x, losses))
    from verbalrec.models import load_causal_lm
    model, tok = load_causal_lm(out)
    assert model(**tok(["Answer: A."], return_tensors="pt")).logits.shape[-1] == len(tok)


def test_killed_run_resumes_to_the_same_weights(task_dir, tmp_path):
    torch.manual_seed(0)
    full = warm_start(cfg(task_dir, tmp_path / "full", max_steps=4))
    part = cfg(task_dir, tmp_path / "part", max_steps=4)
    # simulate a kill after step 2: run to 2 with the same schedule, then resume to 4
    import shutil
    warm_start(cfg(task_dir, tmp_path / "part2", max_steps=4))
    shutil.rmtree(tmp_path / "part2" / "checkpoints" / "checkpoint-4")
    shutil.copytree(tmp_path / "part2", tmp_path / "part")
    resumed = warm_start(part, resume=True)
    from safetensors.torch import load_file
    a, b = load_file(full / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    import json
    run = json.loads((resumed / "verbalrec_run.json").read_text())
    assert run["resumed"] is True and run["resumed_from_step"] == 2 and run["wall_s"] is None


def test_config_validation():
    with pytest.raises(Exception, match="verbalizers"):
        WarmStartConfig(tasks="t", out="o", verbalizers="nope")
