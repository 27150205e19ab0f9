"""The reproduce report document: Table 1 / Table 2 rows with paired CIs, the warm-start and
raw-vs-verbalized comparisons of Stage 2, reward curves and their summaries, the analysis, an
example and the notes -- everything ``report.json`` holds, built from the evaluated systems."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..evaluate.loop import EvalResult
from ..evaluate.table import results_json
from ..models.saved import run_record
from . import analysis
from .config import ReproduceConfig, stage_config, stage_configs
from .systems import NOTED_ABLATIONS, STAGE2_RAW, STAGE2_VERBALIZED, TEMPLATE, stage_of, system_id, table1_spec, table2_spec

if TYPE_CHECKING:  # the run's context; the document only reads it
    from .pipeline import Context

def stage2_kind(cfg: ReproduceConfig) -> str:
    """The Stage 1 verbalizer whose texts Stage 2 trains on."""
    return "rewrite" if "rewrite" in cfg.kinds else cfg.kinds[0]


def table_rows(spec: list, evals: dict, base: EvalResult, analysis_rows: dict, warm_of: dict | None = None) -> list[dict]:
    """One row per system present; a Stage 2 row also carries its paired Δ% vs its warm start
    (``warm_of[system]``: the same Reasoner before Stage 2, reading the same texts)."""
    rows = []
    for label, system, paper in spec:
        if system not in evals:
            continue
        res = evals[system]
        row = results_json([res], None if res is base else base)["results"][0]
        row.update({"label": label, "system": system, "paper_delta_pct": paper,
                    "compression_ratio": (analysis_rows.get(system) or {}).get("compression_ratio_mean")})
        warm = evals.get((warm_of or {}).get(system))
        if warm is not None:
            d, lo, hi = res.delta_over(warm)
            row.update({"delta_vs_warmstart_of": warm.system, "delta_vs_warmstart_pct": d,
                        "delta_vs_warmstart_pct_ci95": [lo, hi]})
        rows.append(row)
    return rows


def curve_summary(points: list[dict], key: str = "reward") -> dict | None:
    """Mean (and spread) of ``key`` over the first and the last fifth of the logged steps."""
    values = np.array([p[key] for p in points if p.get(key) is not None], float)
    if len(values) < 2:
        return None
    k = max(1, len(values) // 5)
    first, last = values[:k], values[-k:]
    return {"steps": len(values), "first_fifth_mean": float(first.mean()), "first_fifth_std": float(first.std()),
            "last_fifth_mean": float(last.mean()), "last_fifth_std": float(last.std())}


def curves_of(model_dir: str | None, stage: str) -> list[dict]:
    """Per-step rewards from the run's saved TRL log history."""
    if not model_dir:
        return []
    history = run_record(model_dir).get("log_history", [])
    points = []
    for h in history:
        if "reward" not in h:
            continue
        p = {"step": int(h["step"]), "reward": float(h["reward"])}
        if stage == "stage1":
            acc = next((v for k, v in h.items() if k.startswith(("rewards/accuracy/", "rewards/ranking_"))
                        and k.endswith("/mean")), None)
            p.update({"accuracy": acc, "length": h.get("rewards/length/mean"),
                      "compression_ratio": h.get("rewards/compression_ratio/mean")})
        points.append(p)
    return points


def build_doc(ctx: Context, data: dict, evals: dict, texts: dict, models: dict, command: str, wall: float) -> dict:
    from ..train.provenance import versions

    cfg, test_tasks = ctx.cfg, ctx.test.tasks()
    truth = json.loads(Path(data["truth"]).read_text()) if data.get("truth") else None
    raws = texts[TEMPLATE]
    analysis_rows = {s: analysis.analyse(test_tasks, raws, t, ctx.catalog, truth)
                     for s, t in texts.items() if t is not None and stage_of(s) != "stage2"}
    base = evals[TEMPLATE]
    baselines = [{**row, "label": row["system"]} for row in
                 (results_json([evals[b]], base)["results"][0] for b in cfg.baselines)]
    # the warm start of each Stage 2 row: the frozen Reasoner reading the same texts
    warm_of = {STAGE2_RAW: TEMPLATE, STAGE2_VERBALIZED: system_id("stage1", stage2_kind(cfg))}
    s1_run = stage_config(cfg, "stage1", stage_configs()["stage1"])  # Stage 1 as the run resolved it
    table1 = table_rows(table1_spec(), evals, base, analysis_rows, warm_of)
    table2 = table_rows(table2_spec(s1_run.alpha), evals, base, analysis_rows, warm_of)
    if STAGE2_RAW in evals and STAGE2_VERBALIZED in evals:  # Table 2's raw-vs-verbalized gap
        d, lo, hi = evals[STAGE2_VERBALIZED].delta_over(evals[STAGE2_RAW])
        for row in table2:
            if row["system"] == STAGE2_VERBALIZED:
                row.update({"delta_vs_raw_pct": d, "delta_vs_raw_pct_ci95": [lo, hi]})
    pick = analysis.pick_examples(test_tasks, ctx.catalog, k=1)
    examples = [{"task_id": test_tasks[i].task_id, "target": ctx.catalog.title(test_tasks[i].target_item),
                 "raw": raws[i], "verbalizations": {s: t[i] for s, t in texts.items()
                                                   if t is not None and s != TEMPLATE and stage_of(s) != "stage2"}}
                for i in pick]
    s1 = cfg.stage1
    curves = {stage: {n: curves_of(models.get(n), stage) for n in models if stage_of(n) == stage}
              for stage in ("stage1", "stage2")}
    return {
        "meta": {"title": f"verbalrec reproduce · {cfg.name}", "preset": cfg.name, "dataset": cfg.data,
                 "command": command, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "seed": cfg.seed, "split": cfg.split, "n_tasks": len(ctx.test), "wall_s": round(wall, 1),
                 "compute_s": round(sum(r.wall_s for r in ctx.steps.records), 1),
                 "versions": versions(), "models": {k: str(v) for k, v in models.items()},
                 "steps": [{"name": r.name, "wall_s": r.wall_s, "cached": r.cached} for r in ctx.steps.records],
                 "notes": honest_notes(table1, table2, s1, analysis_rows), "config": dataclasses.asdict(cfg)},
        "baselines": baselines, "table1": table1, "table2": table2, "analysis": analysis_rows,
        "curves": curves,
        "curve_summary": {stage: {n: curve_summary(points) for n, points in runs.items()} for stage, runs in curves.items()},
        "plateau": {"low": s1_run.length_low, "high": s1_run.length_high,
                    "slope_low": None, "slope_high": None},
        "examples": examples, "langptune": None,
    }


def honest_notes(table1: list[dict], table2: list[dict], stage1: dict, analysis_rows: dict) -> list[str]:
    """One sentence per system: does its Δ% CI exclude 0, is its text faithful to the history,
    and how big was the training budget."""
    notes = []
    for row in table1 + [r for r in table2 if r["system"] in NOTED_ABLATIONS]:
        if "delta_pct" not in row:
            continue
        lo, hi = row["delta_pct_ci95"]
        if not np.isfinite(row["delta_pct"]):
            notes.append(f"{row['label']}: Δ% undefined (the template scores 0 on these {row['n']} tasks)")
            continue
        verdict = ("better than the template" if lo > 0 else "worse than the template" if hi < 0
                   else "not distinguishable from the template")
        text = f"{row['label']}: {row['delta_pct']:+.1f}% [{lo:+.1f}, {hi:+.1f}] — {verdict} on {row['n']} tasks"
        if lo == hi == 0:
            text = f"{row['label']}: scores exactly as the template on all {row['n']} tasks"
        coverage = (analysis_rows.get(row["system"]) or {}).get("history_coverage")
        if coverage is not None and coverage < 0.5:
            text += f"; its texts name only {coverage:.0%} of the history's titles (not a faithful verbalization)"
        if row.get("paper_delta_pct") is not None:
            text += f" (paper: {row['paper_delta_pct']:+.1f}%)"
        if not any(n.startswith(row["label"] + ":") for n in notes):
            notes.append(text)
    steps = stage1.get("max_steps")
    if steps:
        notes.append(f"Stage 1 ran {steps} GRPO steps per verbalizer here; the paper trains 8B models for far longer. "
                     "Small budgets give noisy, not converged, policies.")
    return notes
