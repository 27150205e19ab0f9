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


def test_corpus_is_seeded_and_holds_no_evaluation_target(task_dir):
    from verbalrec.logs.catalog import Catalog
    from verbalrec.tasks import load_tasks
    tasks = load_tasks(task_dir)
    train = tasks.split("train")
    texts = corpus(train, cfg(task_dir, "o", prompt_share=1.0))
    assert texts == corpus(train, cfg(task_dir, "o", prompt_share=1.0))  # deterministic by seed
    assert texts != corpus(train, cfg(task_dir, "o", prompt_share=1.0, seed=1))
    prompts = [t for t in texts if "Answer:" in t]
    assert len(prompts) == len(train)  # prompt_share=1: every training task once, with its answer line
    catalog = Catalog(tasks.catalog)
    answers = sorted(t.rsplit("Answer:", 1)[1].strip() for t in prompts)
    assert answers == sorted(catalog.title(t.target_item) for t in train.tasks())


def test_no_valid_or_test_target_reaches_a_training_text(tmp_path):
    """Each user's last two visits are items nobody else sees ("Secret ..."): the valid and test
    targets. No history or answer in the corpus may name one (a negative candidate may)."""
    import pandas as pd
    from helpers import T0, DAY, tiny_catalog, tiny_events
    from verbalrec.logs.schema import EventLog, validate_catalog, validate_events
    from verbalrec.tasks import load_tasks
    events, catalog = tiny_events(), tiny_catalog()
    extra = [(u, T0 + (60 + k) * DAY, f"z{u}{k}", "play", 40.0, "tv", float("nan"))
             for u in events["user_id"].unique() for k in range(2)]
    events = pd.concat([events, pd.DataFrame(extra, columns=events.columns)], ignore_index=True)
    catalog = pd.concat([catalog, pd.DataFrame({"item_id": [e[2] for e in extra],
                                                "title": [f"Secret {e[2]}" for e in extra]})], ignore_index=True)
    cat = validate_catalog(catalog)
    log = EventLog(validate_events(events, catalog=cat), cat, name="secret")
    save_tasks(build_tasks(log, preset("paper", n_candidates=3, train_tasks_per_user=0), progress=False), tmp_path / "t")
    tasks = load_tasks(tmp_path / "t")
    assert {t.target_item[0] for t in tasks.split("test").tasks() + tasks.split("valid").tasks()} == {"z"}
    passes = {"titles": 2, "template": 1}
    texts = corpus(tasks.split("train"), cfg(tmp_path / "t", "o", prompt_share=1.0, history_passes=passes))
    for text in texts:
        history = text.split("Candidates:")[0]
        answer = text.rsplit("Answer:", 1)[1] if "Answer:" in text else ""
        assert "Secret" not in history and "Secret" not in answer


def test_history_documents_cover_training_events_in_several_styles(task_dir):
    from verbalrec.tasks import load_tasks
    tasks = load_tasks(task_dir)
    passes = {"titles": 1, "template": 1, "heuristic": 1, "sentences": 1}
    texts = corpus(tasks.split("train"), cfg(task_dir, "o", prompt_share=0.0, history_passes=passes))
    assert texts and not any("Answer:" in t for t in texts)
    assert any(t.startswith("- ") or t.startswith("Interests") for t in texts)  # heuristic
    assert any(", ID: " in t for t in texts)  # template
    assert any(t.startswith(("Watched", "Liked", "Disliked")) for t in texts)  # sentences


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
    from verbalrec.errors import InputError
    with pytest.raises(InputError, match="mix"):
        WarmStartConfig(tasks="t", out="o", mix={"nope": 1.0})
    with pytest.raises(InputError, match="window"):
        WarmStartConfig(tasks="t", out="o", window=(5, 2))


def test_title_tokens_make_each_title_one_token(task_dir, tmp_path):
    from verbalrec.logs.catalog import Catalog
    from verbalrec.models import load_causal_lm
    from verbalrec.tasks import load_tasks
    out = warm_start(cfg(task_dir, tmp_path / "m", max_steps=1))
    _, tok = load_causal_lm(out)
    catalog = Catalog(load_tasks(task_dir).catalog)
    for item in catalog.rows:
        assert len(tok(catalog.title(item), add_special_tokens=False)["input_ids"]) == 1


def test_plain_loss_trainer_computes_trls_loss_and_gradients(task_dir, tmp_path):
    """The CPU trainer swaps TRL's fused LM head for the model's own loss: same value, same grads."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from verbalrec.models import load_causal_lm
    from verbalrec.train.sft_trainer import sft_trainer_class
    model_dir = warm_start(cfg(task_dir, tmp_path / "m", max_steps=1))
    results = []
    for cls in (SFTTrainer, sft_trainer_class()):
        model, tok = load_causal_lm(model_dir, padding_side="right")
        model.train()
        args = SFTConfig(output_dir=str(tmp_path / "o"), max_length=64, per_device_train_batch_size=2, use_cpu=True,
                         bf16=False, report_to="none", packing=True, packing_strategy="wrapped", dataset_text_field="text")
        trainer = cls(model=model, args=args, processing_class=tok,
                      train_dataset=Dataset.from_dict({"text": ["Answer: one two three four five six"] * 8}))
        batch = next(iter(trainer.get_train_dataloader()))
        torch.manual_seed(0)
        loss = trainer.compute_loss(model, dict(batch))
        loss.backward()
        results.append((loss.item(), model.get_input_embeddings().weight.grad.clone()))
    (fused, g_fused), (plain, g_plain) = results
    assert abs(fused - plain) < 1e-4 * max(1.0, abs(fused))
    assert torch.allclose(g_fused, g_plain, atol=1e-5, rtol=1e-3)


def test_pretokenized_corpus_packs_exactly_like_trls_text_path(task_dir, tmp_path):
    """``lm_dataset`` skips TRL's per-example maps; the packed rows the trainer sees are unchanged,
    and a corpus built from a reused ``corpus_history`` is the corpus built from scratch."""
    from datasets import Dataset
    from trl import SFTConfig

    from verbalrec.models import load_causal_lm
    from verbalrec.tasks import load_tasks
    from verbalrec.train.sft_trainer import sft_trainer_class
    from verbalrec.train.warmstart import corpus_history, lm_dataset
    train = load_tasks(task_dir).split("train")
    c = cfg(task_dir, "o")
    model_dir = warm_start(cfg(task_dir, tmp_path / "m", max_steps=1))
    model, tok = load_causal_lm(model_dir, padding_side="right")
    texts = corpus(train, c, tok)
    assert texts == corpus(train, c, tok, corpus_history(train, c))
    rows = []
    for data in (Dataset.from_dict({"text": texts}), lm_dataset(texts, tok)):
        args = SFTConfig(output_dir=str(tmp_path / "o"), max_length=64, use_cpu=True, bf16=False, report_to="none",
                         packing=True, packing_strategy="wrapped")
        ds = sft_trainer_class()(model=model, args=args, processing_class=tok, train_dataset=data).train_dataset
        rows.append(ds["input_ids"])
    assert rows[0] == rows[1] and len(rows[0]) > 1


def test_skip_engagements_removes_those_history_events_and_nothing_else(task_dir):
    from verbalrec.tasks import load_tasks
    from verbalrec.tasks.schema import without_engagements
    train = load_tasks(task_dir)  # all splits: the tiny log's one trailer is in u0's latest histories
    assert any("trailer" in t.hist_engagement for t in train.tasks())
    clean = without_engagements(train, ("trailer",))
    assert len(clean) == len(train)
    for old, new in zip(train.tasks(), clean.tasks()):
        keep = [j for j, e in enumerate(old.hist_engagement) if e != "trailer"]
        assert new.hist_item == [old.hist_item[j] for j in keep]
        assert new.hist_time == [old.hist_time[j] for j in keep] and new.hist_engagement == [old.hist_engagement[j] for j in keep]
        assert (new.target_item, new.candidates, new.label) == (old.target_item, old.candidates, old.label)
    texts = corpus(clean, cfg(task_dir, "o", history_passes={"template": 1}, skip_engagements=["trailer"]))
    assert texts and not any("Trailer" in t for t in texts)
    assert any("Trailer" in t for t in corpus(train, cfg(task_dir, "o", history_passes={"template": 1})))
    assert without_engagements(train, ()) is train
