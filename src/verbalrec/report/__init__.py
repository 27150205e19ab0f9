r"""The run report: one reproduce-run document (``report.json``) -> ``report.html`` + ``report.md``.

The HTML is a single self-contained file (inline CSS, plots inlined as SVG, no scripts, no
external links); the Markdown links its plots from ``figures/*.svg`` beside it. All log text is
escaped: verbalizations and histories are untrusted data.

    from verbalrec.report import build_report, validate_report_doc
    html_path, md_path = build_report(doc, "runs/reproduce")   # validates first

Document schema (every metric may be NaN/None; it is shown as "—")::

    {
     "meta": {"title": str, "preset": str, "dataset": str, "command": str, "date": str (ISO), "seed": int,
              "split": "test"|"valid", "n_tasks": int, "wall_s": float,
              "compute_s": float (optional: every step's wall time when it ran, cached or not),
              "versions": {pkg: version}, "models": {role: path-or-name},
              "steps": [{"name": str, "wall_s": float, "cached": bool}], "notes": [str]},
     "baselines": [ROW],          # classical rankers: random, popularity, item-kNN, SASRec
     "table1": [ROW],             # verbalizers with the frozen reasoner, trained verbalizer, + Stage 2
     "table2": [ROW],             # ablations (raw vs verbalized reasoner training, ranking reward, alpha=1)
     "analysis": {verbalizer_name: {"n": int, "compression_ratio_mean": float, "compression_ratios": [float],
                  "drop_ids": float, "aggregate": float, "summary": float,
                  "history_coverage": float (optional),
                  "noise_removed": float|null, "taste_mentioned": float|null}},
                  # shares in [0,1]; null = not measurable on this data
     "curves": {"stage1": {run_name: [{"step": int, "reward": float, "accuracy": float, "length": float,
                                       "compression_ratio": float}]},
                "stage2": {run_name: [{"step": int, "reward": float}]}},
                # any list may be empty; keys may be missing in points
     "plateau": {"low": 0.3, "high": 0.7, "slope_low": float|null, "slope_high": float|null},
     "examples": [{"task_id": str, "target": str, "raw": str, "verbalizations": {name: str}}],
     "langptune": null | {"rows": [ROW + "profile_chars": float],
                          "examples": [{"user_id": str, "before": str, "after": str}],
                          "curves": [{"step": int, "reward": float}]}
    }
    ROW = {"label": str (row name as in the paper, e.g. "Template (baseline)", "Action-based (Stage 1)"),
           "system": str (e.g. "template/likelihood"), "recall@1_discovery": float,
           "recall@1_discovery_ci95": [lo, hi], "delta_pct": float (absent for the baseline row),
           "delta_pct_ci95": [lo, hi], "paper_delta_pct": float|null, "n": int, "n_discovery": int,
           "ndcg@10": float, "mrr": float, "compression_ratio": float|null, "valid_ratio": float,
           "note": str (optional)}

Required: the top-level keys above (``langptune`` may be absent), ``meta.title``, ``meta.preset``,
``meta.dataset``, ``meta.command``, ``meta.date``, ``meta.n_tasks``, each ROW's ``label`` and
``system``, each example's ``task_id``, ``raw`` and ``verbalizations``, ``plateau.low`` and
``plateau.high``; everything else may be missing.
"""

from .build import build_report, load_report_doc
from .schema import validate_report_doc

__all__ = ["build_report", "load_report_doc", "validate_report_doc"]
