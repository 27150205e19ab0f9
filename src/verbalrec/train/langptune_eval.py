"""LangPTune's evaluation: every system under the same embedding reasoner on ``eval_split``,
rows picked by system name, the trained-vs-zero-shot comparison, reward curves, the console table."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..models.saved import RUN_FILE
from ..tasks.schema import Task
from .langptune_config import EMBEDDING_DIR, LangPTuneConfig, embedding_model


def _result(system: str, tasks: list[Task], reasoner, contexts: list[str]):
    from ..evaluate.loop import result_of
    return result_of(system, tasks, reasoner.score(tasks, contexts), contexts)


def _profiles(model_dir: str, catalog, tasks: list[Task], cfg: LangPTuneConfig) -> tuple[list[str], float]:
    from ..models import load_causal_lm
    from ..verbalize.profile import ProfileVerbalizer

    model, tokenizer = load_causal_lm(model_dir, padding_side="left")
    writer = ProfileVerbalizer(model, tokenizer, catalog, max_new_tokens=cfg.max_completion_length,
                               max_prompt_tokens=cfg.max_prompt_length, use_chat_template=cfg.use_chat_template,
                               batch_size=cfg.eval_batch_size)
    texts = writer.verbalize(tasks)
    return texts, writer.capped / max(len(tasks), 1)


def evaluate_langptune(cfg: LangPTuneConfig, trained: str | None) -> dict:
    """The comparison table on ``cfg.eval_split``; ``trained``: the trained writer directory (None: skip)."""
    from ..evaluate.table import results_json
    from ..logs.catalog import Catalog
    from ..reason.embedding import EmbeddingReasoner, IDEmbeddingReasoner
    from ..tasks import load_tasks
    from ..verbalize import make_verbalizer

    tasks = load_tasks(cfg.tasks)
    split = tasks.split(cfg.eval_split)
    split = split.head(cfg.eval_limit) if cfg.eval_limit else split
    if len(split) == 0:
        raise InputError(f"no '{cfg.eval_split}' tasks", file=cfg.tasks, field="eval_split",
                         fix="use a split the task folder has (train, valid or test)")
    catalog, items = Catalog(tasks.catalog), split.tasks()
    reasoner = EmbeddingReasoner(embedding_model(cfg, resume=True), catalog)
    systems: list[tuple[str, str, object, list[str], float | None]] = []  # system, label, reasoner, contexts, capped
    for name, label in (("template", "template"), ("template+meta", "template + metadata"),
                        ("heuristic", "heuristic")):
        systems.append((name, label, reasoner, make_verbalizer(name, catalog).verbalize(items), None))
    t0 = time.perf_counter()
    before, cap0 = _profiles(cfg.writer, catalog, items, cfg)
    timing = {"zero_shot_profiles_s": round(time.perf_counter() - t0, 1)}
    systems.append(("zero-shot-profile", "zero-shot profile (untrained writer)", reasoner, before, cap0))
    after = None
    if trained:
        t0 = time.perf_counter()
        after, cap1 = _profiles(trained, catalog, items, cfg)
        timing["trained_profiles_s"] = round(time.perf_counter() - t0, 1)
        systems.append(("langptune-profile", "LangPTune profile (trained writer)", reasoner, after, cap1))
    ids = IDEmbeddingReasoner(catalog).fit(tasks.split("train"))
    systems.append(("id-embedding", "ID embedding (SVD of train interactions)", ids, [""] * len(items), None))

    results = [_result(s, items, r, ctx) for s, _, r, ctx, _ in systems]
    doc = results_json(results, results[0])
    rows = []
    for row, (s, label, r, ctx, capped), res in zip(doc["results"], systems, results):
        cat = r.metrics(items, ctx, "catalog")
        row.update({"label": label, "embedding": r.name,
                    "profile_chars": float(np.mean([len(c) for c in ctx])) if r.uses_text else None,
                    "capped_rate": capped, "catalog_ndcg": float(cat["ndcg"].mean()),
                    "catalog_ndcg@10": float(cat["ndcg@10"].mean()), "catalog_mrr": float(cat["mrr"].mean())})
        rows.append(row)
    paired = {}
    if trained:  # the headline comparison: trained vs zero-shot profile, paired on the same tasks
        by_system = {res.system: res for res in results}
        zs, tr = by_system["zero-shot-profile"], by_system["langptune-profile"]
        for metric, disc in (("hr@1", True), ("mrr", False), ("ndcg@10", False)):
            d, lo, hi = tr.delta_over(zs, metric, discovery_only=disc)
            paired[("recall@1_discovery" if metric == "hr@1" else metric)] = {"delta_pct": d, "delta_pct_ci95": [lo, hi]}
    examples = [{"user_id": t.user_id, "task_id": t.task_id, "target": catalog.title(t.target_item),
                 "before": b, "after": a}
                for t, b, a in list(zip(items, before, after or [None] * len(items)))[:cfg.examples]]
    meta = {"tasks": cfg.tasks, "split": cfg.eval_split, "n_tasks": len(items), "writer": cfg.writer,
            "trained_writer": trained, "embedding_model": cfg.embedding_model,
            "embedding_trained": (Path(cfg.out) / EMBEDDING_DIR).exists(), "timing": timing,
            "tasks_meta": tasks.meta}
    return {"rows": rows, "trained_vs_zero_shot": paired, "examples": examples, "meta": meta}


def reward_curves(out: Path, metric: str) -> tuple[list[dict], list[dict]]:
    run = out / RUN_FILE
    if not run.exists():
        return [], []
    doc = json.loads(run.read_text())
    key = f"rewards/profile_{metric}/mean"
    curves = [{"step": h["step"], "reward": h[key], **({"capped_rate": h["profile/capped_rate"]}
                                                       if "profile/capped_rate" in h else {})}
              for h in doc.get("log_history", []) if key in h]
    return curves, doc.get("contrastive", [])


def print_langptune(doc: dict, console=None) -> None:
    """The report table: Recall@1 Discovery, Δ% vs template, NDCG@10, MRR (candidates), catalogue
    NDCG/MRR (seen masked), mean profile length."""
    from rich.console import Console
    from rich.table import Table

    f = lambda v: "—" if v is None or v != v else f"{v:.3f}"  # noqa: E731
    table = Table(title=f"LangPTune · {doc['meta']['split']} · n={doc['meta']['n_tasks']}")
    for col in ("system", "R@1 Disc [95% CI]", "Δ% vs template [95% CI]", "NDCG@10", "MRR", "cat NDCG", "cat MRR",
                "chars"):
        table.add_column(col, justify="left" if col == "system" else "right")
    for r in doc["rows"]:
        lo, hi = r["recall@1_discovery_ci95"]
        d = (f"{r['delta_pct']:+.1f} [{r['delta_pct_ci95'][0]:+.1f}, {r['delta_pct_ci95'][1]:+.1f}]"
             if "delta_pct" in r else "—")
        chars = "—" if r["profile_chars"] is None else f"{r['profile_chars']:.0f}"
        table.add_row(r["label"], f"{f(r['recall@1_discovery'])} [{f(lo)}, {f(hi)}]", d, f(r["ndcg@10"]), f(r["mrr"]),
                      f(r["catalog_ndcg"]), f(r["catalog_mrr"]), chars)
    console = console or Console()
    if not console.is_terminal:
        console.width = 160
    console.print(table)
