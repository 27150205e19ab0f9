"""GRPO stages on tiny models: one step of each, logged sub-rewards, train-only data, exact resume."""

import json
import os
import shutil

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from verbalrec.errors import InputError  # noqa: E402
from verbalrec.tasks import load_tasks  # noqa: E402
from verbalrec.train.grpo import prepare_out, training_tasks  # noqa: E402
from verbalrec.train.grpo_config import Stage1Config, Stage2Config, trl_args  # noqa: E402
from verbalrec.train.stage1 import PolicyPostprocess, train_verbalizer, verbalizer_rows  # noqa: E402
from verbalrec.verbalize.kinds import make_policy_verbalizer
from verbalrec.train.stage2 import train_reasoner  # noqa: E402


def s1(env, out, **kw):
    base = dict(tasks=env["tasks"], out=str(env["root"] / out), policy=env["model"], oracle=env["model"],
                max_prompt_length=160, max_completion_length=16, num_generations=2, prompts_per_step=2,
                max_steps=1, logging_steps=1, save_steps=2, learning_rate=1e-2,
                # an untrained tiny rewrite names no title: gated, every reward (and so every update) would be 0
                faithfulness_gate=False)
    return Stage1Config(**{**base, **kw})


def run_of(out) -> dict:
    return json.loads((out / "verbalrec_run.json").read_text())


def weights(out) -> dict:
    from safetensors.torch import load_file
    return load_file(str(out / "model.safetensors"))


@pytest.fixture(scope="module")
def rewrite_run(env):
    return train_verbalizer(s1(env, "s1-rewrite"))


def logged(run: dict) -> set:
    return {k for h in run["log_history"] for k in h}


def test_stage1_rewrite_step_saves_model_provenance_and_sub_rewards(rewrite_run):
    run = run_of(rewrite_run)
    assert run["stage"] == "stage1-verbalizer" and run["config"]["kind"] == "rewrite" and run["global_step"] == 1
    assert run["examples"] == len(load_tasks(run["config"]["tasks"]).split("train"))
    assert {"rewards/accuracy/mean", "rewards/length/mean", "rewards/compression_ratio/mean",
            "verbalizer/fallback_rate"} <= logged(run)
    assert run["data_hash"] and "trl" in run["versions"]
    from verbalrec.models import load_causal_lm
    model, tok = load_causal_lm(rewrite_run)
    assert model(**tok(["History:"], return_tensors="pt")).logits.shape[-1] == len(tok)


@pytest.mark.parametrize("kind", ["action", "action-text"])
def test_stage1_action_kinds_train_too(env, kind):
    out = train_verbalizer(s1(env, f"s1-{kind}", kind=kind, alpha=1.0, beta=0.0))
    run = run_of(out)
    assert run["config"]["kind"] == kind and run["global_step"] == 1
    assert {"rewards/accuracy/mean", "rewards/length/mean", "rewards/compression_ratio/mean"} <= logged(run)


def test_stage2_step_on_a_trained_verbalizer_directory(env, rewrite_run):
    cfg = Stage2Config(tasks=env["tasks"], out=str(env["root"] / "s2"), policy=env["model"], verbalizer=str(rewrite_run),
                       verbalizer_max_new_tokens=16, max_prompt_length=256, num_generations=2, prompts_per_step=2,
                       max_steps=1, logging_steps=1, save_steps=5)
    out = train_reasoner(cfg)
    run = run_of(out)
    assert run["stage"] == "stage2-reasoner" and run["global_step"] == 1 and run["verbalizer_name"] == "rewrite"
    assert "rewards/reasoner_correct/mean" in logged(run)
    assert run["generated"] == run["examples"] == len(load_tasks(env["tasks"]).split("train"))
    assert (out / "verbalizations.sqlite").exists()


def test_datasets_hold_training_tasks_only(env):
    tasks, train = training_tasks(env["tasks"])
    held_out = set(tasks.split("valid").table["task_id"].to_pylist() + tasks.split("test").table["task_id"].to_pylist())
    assert held_out and set(train.table["split"].to_pylist()) == {"train"}
    from verbalrec.logs.catalog import Catalog
    from verbalrec.models import load_causal_lm
    model, tok = load_causal_lm(env["model"])
    verbalizer = make_policy_verbalizer("action-text", model, tok, Catalog(tasks.catalog), max_new_tokens=8,
                                        max_prompt_tokens=160)
    rows = verbalizer_rows(train, verbalizer, tok)
    ids = [r["task_id"] for r in rows]
    assert len(ids) == len(train) and not set(ids) & held_out
    assert all(r["prompt"].endswith("Actions:\n") and r["template_chars"] > 0 for r in rows)
    # the action postprocess executes sampled lines on the task: "drop everything" leaves nothing
    post = PolicyPostprocess(verbalizer, train.tasks())
    task = train.tasks()[0]
    drop_all = "\n".join(f"{k + 1}: 0 0" for k in range(len(task.hist_item)))
    assert post([drop_all, "garbage"], {"task_id": [task.task_id] * 2})[0] == ""
    # a degenerate rewrite is scored as an empty context while training, never as the template
    rewrite = make_policy_verbalizer("rewrite", model, tok, Catalog(tasks.catalog), max_new_tokens=8,
                                     max_prompt_tokens=160)
    post = PolicyPostprocess(rewrite, train.tasks())
    good = "Likes Title 1 and Title 2 in the evening, mostly dramas."
    assert post(["", "....", good], {"task_id": [task.task_id] * 3}) == ["", "", good]
    assert rewrite.fallbacks == 2


def test_killed_run_resumes_to_the_same_weights(env, tmp_path):
    kw = dict(max_steps=4, save_steps=2, beta=0.0, num_generations=2, prompts_per_step=1)
    full = train_verbalizer(s1(env, tmp_path / "full", **kw))
    # simulate a kill between steps 2 and 4: the same run dir without its step-4 checkpoint and final model
    part = tmp_path / "part"
    shutil.copytree(full, part, ignore=shutil.ignore_patterns("checkpoint-4"))
    for name in ("model.safetensors", "verbalrec_run.json"):
        (part / name).unlink()
    with pytest.raises(InputError, match="resume"):
        train_verbalizer(s1(env, part, **kw))
    resumed = train_verbalizer(s1(env, part, **kw), resume=True)
    run = run_of(resumed)
    assert run["resumed_from_step"] == 2 and run["steps_run"] == 2 and run["global_step"] == 4
    # provenance says it was resumed: no part's wall time or loss passed off as the whole run's
    assert run["resumed"] is True and run["wall_s"] is None and run["wall_s_since_resume"] > 0
    assert "train_loss_since_resume" in run and run_of(full)["resumed"] is False
    a, b = weights(full), weights(resumed)
    start = weights(full / "checkpoints" / "checkpoint-2")
    assert any(not torch.equal(a[k], start[k]) for k in a)  # steps 3-4 changed the weights ...
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)  # ... identically in both runs


def test_resuming_a_finished_run_takes_no_more_steps(env, tmp_path):
    kw = dict(max_steps=2, save_steps=2, beta=0.0, num_generations=2, prompts_per_step=1)
    full = train_verbalizer(s1(env, tmp_path / "full", **kw))
    before = weights(full)
    again = train_verbalizer(s1(env, full, **kw), resume=True)
    assert sorted(p.name for p in (again / "checkpoints").glob("checkpoint-*")) == ["checkpoint-2"]
    assert run_of(again)["global_step"] == 2
    assert all(torch.equal(before[k], weights(again)[k]) for k in before)


def test_trl_args_map_the_paper_knobs():
    cfg = Stage1Config(tasks="t", out="o", policy="p", oracle="p", num_generations=4, prompts_per_step=3, alpha=0.7,
                       trl_overrides={"top_p": 0.9})
    args = trl_args(cfg, "/tmp/x", [cfg.alpha, 1 - cfg.alpha, 0.0])
    assert args.per_device_train_batch_size == 12 and args.num_generations == 4 and args.loss_type == "grpo"
    assert args.reward_weights == pytest.approx([0.7, 0.3, 0.0]) and args.top_p == 0.9 and args.seed == args.data_seed
    with pytest.raises(InputError, match="trl_overrides"):
        trl_args(Stage1Config(tasks="t", out="o", policy="p", oracle="p", trl_overrides={"nope": 1}), "/tmp/x", [1, 0, 0])


@pytest.mark.parametrize("cls, kw, field", [
    (Stage1Config, {"kind": "summary"}, "kind"),
    (Stage1Config, {"alpha": 1.5}, "alpha"),
    (Stage1Config, {"num_generations": 1}, "num_generations"),
    (Stage1Config, {"oracle_mode": "logprobs"}, "oracle_mode"),  # a local oracle has no logprobs mode
    (Stage1Config, {"oracle": "http://h/v1", "oracle_mode": "label"}, "oracle_mode"),
    (Stage1Config, {"reward": "ndcg"}, "reward"),
    (Stage1Config, {"length_low": 0.8}, "length_low"),
    (Stage1Config, {"loss_type": "ppo"}, "loss_type"),
    (Stage2Config, {"verbalizer": "/no/such/dir"}, "verbalizer"),
    (Stage2Config, {"verbalizer_kind": "x"}, "verbalizer_kind"),
])
def test_config_validation(cls, kw, field):
    base = {"tasks": "t", "out": "o", "policy": "p", **({"oracle": "p"} if cls is Stage1Config else {})}
    with pytest.raises(InputError, match=field):
        cls(**{**base, **kw})


def test_yaml_config_and_existing_run_dir(tmp_path):
    (tmp_path / "c.yaml").write_text("tasks: t\nout: o\npolicy: p\noracle: http://h/v1\nalpha: 0.5\n")
    cfg = Stage1Config.from_yaml(tmp_path / "c.yaml", alpha=None, seed=3)
    assert cfg.alpha == 0.5 and cfg.seed == 3 and cfg.oracle_mode == "logprobs"
    (tmp_path / "bad.yaml").write_text("tasks: t\nout: o\npolicy: p\nalfa: 1\n")
    with pytest.raises(InputError, match="alfa"):
        Stage2Config.from_yaml(tmp_path / "bad.yaml")
    (tmp_path / "run" / "x").mkdir(parents=True)
    with pytest.raises(InputError, match="resume"):
        prepare_out(tmp_path / "run", resume=False)


def test_a_lora_run_saves_the_adapter_and_the_model_with_it_merged(env, tmp_path):
    out = train_verbalizer(s1(env, tmp_path / "lora", lora_r=4, lora_alpha=8, max_steps=2, beta=0.0))
    from verbalrec.models import load_causal_lm
    merged, tok = load_causal_lm(out)
    with_adapter, _ = load_causal_lm(env["model"], adapter=out / "adapter")
    base, _ = load_causal_lm(env["model"])
    ids = tok(["History: Title 1, Title 2"], return_tensors="pt")
    with torch.no_grad():
        logits = [m(**ids).logits for m in (merged, with_adapter, base)]
    assert torch.allclose(logits[0], logits[1], atol=1e-5)  # the merge is the adapter, applied
    assert not torch.allclose(logits[0], logits[2])  # and training moved it off the base
