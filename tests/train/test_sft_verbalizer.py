"""Verbalizer warm start: prompt-completion pairs from training tasks only, a short run, exact resume."""

import json
import os
import shutil

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from verbalrec.errors import InputError  # noqa: E402
from verbalrec.train.sft_verbalizer import VerbalizerSFTConfig, sft_rows, sft_verbalizer  # noqa: E402
from verbalrec.train.stage1 import as_prompt, completion_text  # noqa: E402
from verbalrec.verbalize.kinds import make_policy_verbalizer


def cfg(env, out, **kw):
    return VerbalizerSFTConfig(**{**dict(tasks=env["tasks"], out=str(out), model=env["model"], max_prompt_length=192,
                                         max_length=384, batch_size=4, save_steps=2, logging_steps=1,
                                         learning_rate=1e-2), **kw})


@pytest.mark.parametrize("kind", ["rewrite", "action-text"])
def test_pairs_are_policy_prompts_and_heuristic_targets_of_training_tasks(env, kind):
    from verbalrec.logs.catalog import Catalog
    from verbalrec.models import load_causal_lm
    from verbalrec.verbalize.action import format_actions, heuristic_actions
    from verbalrec.verbalize.heuristic import HeuristicVerbalizer
    tasks, catalog = env["taskset"], Catalog(env["taskset"].catalog)
    model, tok = load_causal_lm(env["model"])
    verbalizer = make_policy_verbalizer(kind, model, tok, catalog, max_new_tokens=1, max_prompt_tokens=192)
    train = tasks.split("train")
    rows = sft_rows(train, verbalizer, tok)
    assert [r["task_id"] for r in rows] == train.table["task_id"].to_pylist()
    task, row = train.tasks()[3], rows[3]
    assert row["prompt"] == verbalizer.prompt_for(task)
    want = (HeuristicVerbalizer(catalog).verbalize([task])[0] if kind == "rewrite"
            else format_actions(task, heuristic_actions(task, catalog)))
    assert row["completion"] == want
    held_out = set(tasks.split("valid").table["task_id"].to_pylist() + tasks.split("test").table["task_id"].to_pylist())
    assert held_out and not held_out & {r["task_id"] for r in rows}


def test_chat_template_prompts_are_conversational():
    class ChatTok:
        chat_template = "{{ messages }}"
    assert as_prompt("p", ChatTok(), True) == [{"role": "user", "content": "p"}]
    assert as_prompt("p", ChatTok(), False) == "p"
    assert completion_text([{"role": "assistant", "content": "x"}]) == "x" and completion_text("y") == "y"


def test_short_run_saves_a_loadable_model_with_provenance(env, tmp_path):
    out = sft_verbalizer(cfg(env, tmp_path / "m", kind="action-text", max_steps=2))
    run = json.loads((out / "verbalrec_run.json").read_text())
    assert run["stage"] == "sft-verbalizer" and run["config"]["kind"] == "action-text" and run["global_step"] == 2
    assert run["examples"] == len(env["taskset"].split("train")) and run["data_hash"]
    assert all(h["loss"] == h["loss"] for h in run["log_history"] if "loss" in h)
    from verbalrec.models import load_causal_lm
    load_causal_lm(out)


def test_killed_run_resumes_to_the_same_weights(env, tmp_path):
    from safetensors.torch import load_file
    full = sft_verbalizer(cfg(env, tmp_path / "full", max_steps=4))
    part = tmp_path / "part"
    shutil.copytree(full, part, ignore=shutil.ignore_patterns("checkpoint-4"))
    for name in ("model.safetensors", "verbalrec_run.json"):
        (part / name).unlink()
    resumed = sft_verbalizer(cfg(env, part, max_steps=4), resume=True)
    run = json.loads((resumed / "verbalrec_run.json").read_text())
    assert run["resumed_from_step"] == 2 and run["resumed"] is True and run["wall_s"] is None
    assert run["wall_s_since_resume"] > 0 and "train_loss_since_resume" in run
    a, b = load_file(str(full / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    start = load_file(str(full / "checkpoints" / "checkpoint-2" / "model.safetensors"))
    assert any(not torch.equal(a[k], start[k]) for k in a)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


@pytest.mark.parametrize("kw, field", [({"kind": "summary"}, "kind"), ({"max_length": 100}, "max_length"),
                                       ({"batch_size": 0}, "batch_size")])
def test_config_validation(kw, field):
    with pytest.raises(InputError, match=field):
        VerbalizerSFTConfig(**{"tasks": "t", "out": "o", "model": "m", **kw})
