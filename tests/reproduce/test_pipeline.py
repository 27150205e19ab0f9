"""One tiny end-to-end reproduce run (synthetic logs, tiny in-project models, 2 steps per stage)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from verbalrec.evaluate.bootstrap import relative_delta
from verbalrec.reproduce import ReproduceConfig, run_reproduce

TINY = dict(
    name="tiny", data="synthetic", synthetic={"n_users": 40, "events_per_user": 30, "n_films": 40, "n_series": 5},
    history_len=8, eval_limit=12, max_length=384, verbalizer_max_new_tokens=48,
    warmstart={"size": "tiny", "max_tasks": 100, "max_steps": 4, "save_steps": 2},
    sft={"max_tasks": 16, "max_steps": 2, "max_prompt_length": 256, "max_length": 384, "learning_rate": 1e-3,
         "save_steps": 2, "use_chat_template": False},
    stage1={"max_tasks": 8, "max_steps": 2, "num_generations": 2, "prompts_per_step": 2, "max_prompt_length": 256,
            "max_completion_length": 48, "learning_rate": 1e-4, "beta": 0.0, "logging_steps": 1, "save_steps": 2,
            "use_chat_template": False},
    stage2={"max_tasks": 8, "max_steps": 2, "num_generations": 2, "prompts_per_step": 2, "max_completion_length": 12,
            "beta": 0.0, "logging_steps": 1, "save_steps": 2},
    with_langptune=True,
    langptune={"max_tasks": 8, "max_steps": 2, "num_generations": 2, "prompts_per_step": 2, "max_prompt_length": 256,
               "max_completion_length": 24, "logging_steps": 1, "save_steps": 2, "examples": 1,
               "use_chat_template": False})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cfg = ReproduceConfig(out=str(tmp_path_factory.mktemp("reproduce")), **TINY)
    return cfg, run_reproduce(cfg, command="test", log=lambda _: None)


def _per_task(cfg, system):
    step = next(Path(cfg.out, "steps").glob(f"eval-{system}-*"))
    return pd.read_parquet(step / "per_task.parquet")


def test_every_table_and_system_is_there(run):
    cfg, doc = run
    t1 = {r["system"] for r in doc["table1"]}
    assert t1 == {"template", "heuristic", "zero-shot", "sft-rewrite", "stage1-rewrite", "stage1-action",
                  "sft-action-text", "stage1-action-text",
                  "stage2-verbalized"}  # the constrained action kind has no format warm-up to report
    assert {r["system"] for r in doc["table2"]} >= {"stage1-ranking", "stage1-no-length", "stage2-raw"}
    assert [r["system"] for r in doc["baselines"]] == ["random", "popularity", "itemknn"]
    paper = {r["system"]: r["paper_delta_pct"] for r in doc["table1"]}
    assert paper["zero-shot"] == 5.3 and paper["stage2-verbalized"] == 92.9
    assert set(doc["curves"]["stage1"]) == {"stage1-rewrite", "stage1-action", "stage1-action-text", "stage1-ranking",
                                             "stage1-no-length"}
    assert all(len(points) == 2 for points in doc["curves"]["stage1"].values())
    assert doc["examples"] and doc["examples"][0]["raw"].count("ID:") == 8
    assert doc["analysis"]["heuristic"]["noise_removed"] is not None  # synthetic logs have trailers/previews
    assert json.loads(Path(cfg.out, "report.json").read_text())["table1"] == json.loads(json.dumps(doc["table1"]))
    lpt = doc["langptune"]
    assert {"template", "zero-shot-profile", "langptune-profile", "id-embedding"} <= {r["system"] for r in lpt["rows"]}
    assert all(r["n"] == cfg.eval_limit for r in lpt["rows"]) and len(lpt["curves"]) == 2
    html = Path(cfg.out, "report.html").read_text()
    for heading in ("Table 1", "Table 2", "Classical baselines", "LangPTune", "Stage 1", "Length reward"):
        assert heading in html, heading


def test_numbers_agree_with_the_per_task_metrics(run):
    cfg, doc = run
    template = _per_task(cfg, "template")
    assert len(template) == cfg.eval_limit
    for row in doc["table1"] + doc["table2"]:
        df = _per_task(cfg, row["system"])
        assert df["task_id"].tolist() == template["task_id"].tolist()  # paired: the same tasks
        disc = df["discovery"].to_numpy(bool)
        assert row["recall@1_discovery"] == pytest.approx(df["hr@1"][disc].mean())
        if row["system"] != "template":
            d, _, _ = relative_delta(template["hr@1"][disc].to_numpy(), df["hr@1"][disc].to_numpy())
            assert row["delta_pct"] == pytest.approx(d, nan_ok=True)
    # the compression ratio in Table 1 is the analysis' mean over the same texts
    heur = _per_task(cfg, "heuristic")
    ratios = heur["context"].str.len().to_numpy() / template["context"].str.len().to_numpy()
    row = next(r for r in doc["table1"] if r["system"] == "heuristic")
    assert row["compression_ratio"] == pytest.approx(np.mean(ratios))


def test_second_run_is_read_from_the_cache_and_a_crashed_step_is_redone(run):
    cfg, doc = run
    again = run_reproduce(cfg, command="test", log=lambda _: None)
    assert all(s["cached"] for s in again["meta"]["steps"])
    same = lambda a, b: json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # noqa: E731 (NaN-safe)
    assert same(again["table1"], doc["table1"]) and same(again["table2"], doc["table2"])
    # a crash in the last training step: its done marker is gone, and its evaluation never ran
    stage2_raw = next(Path(cfg.out, "steps").glob("stage2-raw-*"))
    (stage2_raw / "done.json").unlink()
    shutil.rmtree(next(Path(cfg.out, "steps").glob("eval-stage2-raw-*")))
    third = run_reproduce(cfg, command="test", log=lambda _: None)
    redone = [s["name"] for s in third["meta"]["steps"] if not s["cached"]]
    assert redone == ["stage2-raw", "eval-stage2-raw"]


def test_a_model_retrained_in_place_is_a_new_input(tmp_path):
    from verbalrec.models import build_and_save
    from verbalrec.reproduce.pipeline import model_identity
    model = build_and_save(["some text to learn a tokenizer from"] * 20, tmp_path / "m", "tiny")
    before = model_identity(str(model))
    assert before.startswith(str(model) + "@") and model_identity(before) == before  # not a dir: unchanged
    weights = next(model.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes() + b"\0")  # "retrained": other bytes, other mtime
    assert model_identity(str(model)) != before
    assert model_identity("template") == "template"


def test_stage2_rows_carry_the_paired_delta_vs_their_warm_start(run):
    """Each Stage 2 row is compared with the same Reasoner before Stage 2, reading the same texts."""
    cfg, doc = run
    rows = {r["system"]: r for r in doc["table2"]}
    for system, warm in (("stage2-verbalized", "stage1-rewrite"), ("stage2-raw", "template")):
        row = rows[system]
        assert row["delta_vs_warmstart_of"] == warm
        a, b = _per_task(cfg, warm), _per_task(cfg, system)
        disc = a["discovery"].to_numpy(bool)
        d, lo, hi = relative_delta(a["hr@1"].to_numpy()[disc], b["hr@1"].to_numpy()[disc], seed=0)
        assert row["delta_vs_warmstart_pct"] == pytest.approx(d, nan_ok=True)
        assert row["delta_vs_warmstart_pct_ci95"] == pytest.approx([lo, hi], nan_ok=True)
    assert "delta_vs_raw_pct" in rows["stage2-verbalized"]
    summary = doc["curve_summary"]["stage2"]["stage2-verbalized"]
    assert summary["steps"] == 2 and summary["first_fifth_mean"] is not None
