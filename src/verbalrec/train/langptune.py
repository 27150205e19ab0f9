r"""LangPTune (Gao, Zhou, Dai, Joachims): language user profiles trained end to end with an
embedding recommender -- the profile's only judge is the recommender.

* Writer: a causal LM (``verbalize.profile.ProfileVerbalizer`` prompt) samples G profiles per
  training history; GRPO (TRL, through the shared ``train.grpo.run_grpo``) on the reward
  ``rewards.profile.ProfileRankingReward``: untruncated NDCG (or MRR) of the user's next item under
  the embedding reasoner over the whole catalogue, seen items masked; a profile that hits the
  length cap (``max_completion_length`` tokens, no EOS) earns 0.
* Embedding model (optional, ``contrastive_every > 0``): every k writer steps, one InfoNCE pass
  (sentence-transformers' ``MultipleNegativesRankingLoss``, in-batch negatives) on (profile, next
  item text) pairs -- the best-rewarded profile of each prompt sampled since the last update -- so
  the two alternate as in LangPTune. This is a direct small loop over the library's loss, not its
  ``SentenceTransformerTrainer``: a second HF Trainer (own accelerate state, output dir, data
  loader) nested inside GRPOTrainer's step loop for a few dozen pairs costs more than the update
  itself. The embedding model is saved in ``out/embedding`` at every checkpoint; ``resume`` reloads it.

``run_langptune(cfg)`` trains, then evaluates on ``eval_split`` (first ``eval_limit`` tasks) the
zero-shot profile (the untrained writer), the trained profile, the template, template+meta and
heuristic verbalizations -- all under the same embedding reasoner -- and the ID-embedding baseline;
Δ% is paired against the template row. It writes and returns ``out/langptune.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..models.saved import RUN_FILE
from ..reason.embedding import DEFAULT_EMBEDDING, SCOPES
from ..tasks.schema import Task
from . import distributed
from .grpo_config import GRPOCommon, _check, _h

EMBEDDING_DIR = "embedding"
RESULTS = "langptune.json"


@dataclass(kw_only=True)
class LangPTuneConfig(GRPOCommon):
    """LangPTune: GRPO of a profile writer on an embedding reasoner's ranking reward."""

    policy: str = field(default="", metadata=_h("same as writer"))
    writer: str = field(default="", metadata=_h("model directory of the profile writer (the policy)"))
    embedding_model: str = field(default=DEFAULT_EMBEDDING, metadata=_h(
        f"sentence-transformers model: {DEFAULT_EMBEDDING} (shipped offline copy), or a name/directory"))
    reward_metric: str = field(default="ndcg", metadata=_h("ndcg (1/log2(rank+1), untruncated) or mrr (1/rank)"))
    reward_scope: str = field(default="catalog", metadata=_h(
        "rank over the whole catalog with seen items masked (LangPTune), or the task's candidates"))
    max_completion_length: int = field(default=64, metadata=_h(
        "profile length cap in tokens; a profile that hits it earns reward 0"))
    contrastive_every: int = field(default=0, metadata=_h(
        "InfoNCE update of the embedding model every this many writer steps (0 = embedding model frozen)"))
    contrastive_lr: float = field(default=2e-5, metadata=_h("AdamW learning rate of the embedding model"))
    contrastive_batch: int = field(default=32, metadata=_h("pairs per InfoNCE batch (in-batch negatives)"))
    contrastive_scale: float = field(default=20.0, metadata=_h("InfoNCE inverse temperature (MNRL scale)"))
    eval_split: str = field(default="test", metadata=_h("split the comparison table is measured on"))
    eval_limit: int = field(default=300, metadata=_h("evaluate the first N tasks of eval_split (0 = all)"))
    eval_batch_size: int = field(default=32, metadata=_h("profile generation batch size at evaluation"))
    examples: int = field(default=3, metadata=_h("example profiles (before/after training) in the report"))
    skip_train: bool = field(default=False, metadata=_h("only evaluate the writer already trained in out"))
    use_chat_template: bool = field(default=True, metadata=_h("wrap prompts in the tokenizer's chat template, if any"))

    def __post_init__(self):
        self.policy = self.policy or self.writer
        self.writer = self.writer or self.policy
        _check(bool(str(self.writer).strip()), "must be given", "writer", "pass --writer MODEL_DIR")
        super().__post_init__()
        _check(self.reward_metric in ("ndcg", "mrr"), f"unknown reward_metric '{self.reward_metric}'",
               "reward_metric", "use ndcg or mrr")
        _check(self.reward_scope in SCOPES, f"unknown reward_scope '{self.reward_scope}'", "reward_scope",
               f"use one of {SCOPES}")
        _check(bool(str(self.embedding_model).strip()), "must be given", "embedding_model",
               f"use {DEFAULT_EMBEDDING} or a sentence-transformers directory")
        _check(self.contrastive_every >= 0 and self.eval_limit >= 0 and self.examples >= 0, "must be >= 0",
               "contrastive_every", "use 0 or more")
        _check(self.contrastive_lr > 0 and self.contrastive_scale > 0, "must be > 0", "contrastive_lr",
               "use a positive value")
        _check(self.contrastive_batch >= 2, "InfoNCE needs in-batch negatives", "contrastive_batch", "use >= 2")
        _check(self.eval_split in ("train", "valid", "test"), "unknown split", "eval_split", "use valid or test")
        _check(self.eval_batch_size >= 1, "must be >= 1", "eval_batch_size", "use a positive value")


class ContrastiveUpdater:
    """One InfoNCE pass over (anchor, positive) pairs with in-batch negatives
    (``MultipleNegativesRankingLoss``); the AdamW state persists across passes."""

    def __init__(self, model, lr: float = 2e-5, batch_size: int = 32, scale: float = 20.0):
        import torch
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

        self.model, self.batch_size = model, batch_size
        self.loss = MultipleNegativesRankingLoss(model, scale=scale)
        self.opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)

    def _features(self, texts: Sequence[str]) -> dict:
        import torch
        feats = self.model.preprocess(list(texts))
        return {k: v.to(self.model.device) if isinstance(v, torch.Tensor) else v for k, v in feats.items()}

    def step(self, anchors: Sequence[str], positives: Sequence[str]) -> float:
        """Mean loss over the pass; batches with fewer than 2 pairs are skipped (no negative)."""
        losses = []
        self.model.train()
        try:
            for i in range(0, len(anchors), self.batch_size):
                a, p = anchors[i:i + self.batch_size], positives[i:i + self.batch_size]
                if len(a) < 2:
                    continue
                loss = self.loss([self._features(a), self._features(p)], labels=None)
                loss.backward()
                self.opt.step()
                self.opt.zero_grad()
                losses.append(float(loss.detach()))
        finally:
            self.model.eval()
        return float(np.mean(losses)) if losses else float("nan")


def best_pairs(texts: Sequence[str], tasks: Sequence[Task], rewards: Sequence[float], catalog) -> list[tuple[str, str]]:
    """(profile, next-item text): the best-rewarded non-empty profile per task (rewarded > 0, so
    capped profiles never teach the embedding model)."""
    from ..reason.embedding import item_text
    best: dict[str, tuple[float, str, Task]] = {}
    for x, t, r in zip(texts, tasks, rewards):
        if x and r > 0 and (t.task_id not in best or r > best[t.task_id][0]):
            best[t.task_id] = (r, x, t)
    return [(x, item_text(catalog, t.target_item)) for _, x, t in best.values()]


def _callback(reward, reasoner, updater, every: int, out: Path, log: list):
    from transformers import TrainerCallback

    class Alternate(TrainerCallback):
        """Collects pairs after every reward call; every ``every`` steps, updates the embedding model.
        Under several processes the main one updates on every process's pairs and sends the new
        weights to the others, so all rewards keep reading one embedding model."""

        def on_step_end(self, args, state, control, **kw):
            if not every or state.global_step % every:
                return
            pairs = distributed.gather_objects(reward.pairs)
            reward.pairs.clear()
            if len(pairs) < 2:
                return
            loss = distributed.on_main(updater.step, [a for a, _ in pairs], [p for _, p in pairs])
            distributed.broadcast_parameters(reasoner.model)
            reasoner.refresh()
            log.append({"step": state.global_step, "contrastive_loss": loss, "pairs": len(pairs)})

        def on_save(self, args, state, control, **kw):
            if every:
                distributed.on_main(reasoner.model.save, str(out / EMBEDDING_DIR))

    return Alternate()


class _PairCollector:
    """Wraps the reward: after each call, its best profile per task joins ``pairs``."""

    def __init__(self, reward, catalog):
        self.reward, self.catalog, self.pairs = reward, catalog, []
        self.__name__ = reward.__name__

    def __call__(self, *args, **kwargs):
        out = self.reward(*args, **kwargs)
        self.pairs += best_pairs(*self.reward.last, self.catalog)
        return out


def _embedding(cfg: LangPTuneConfig, resume: bool = True):
    from ..reason.embedding import load_embedding_model
    saved = Path(cfg.out) / EMBEDDING_DIR
    return load_embedding_model(str(saved) if resume and saved.exists() else cfg.embedding_model)


def train_langptune(cfg: LangPTuneConfig, resume: bool = False) -> Path:
    """Train the profile writer (and, if ``contrastive_every``, the embedding model) into ``cfg.out``."""
    from datasets import Dataset

    from ..logs.catalog import Catalog
    from ..reason.embedding import EmbeddingReasoner
    from ..rewards.profile import ProfileRankingReward
    from ..verbalize.profile import ProfileVerbalizer
    from .grpo import policy_model, prepare_out, run_grpo, training_tasks
    from .stage1 import as_prompt

    out = prepare_out(cfg.out, resume)
    tasks, train = training_tasks(cfg.tasks, cfg.max_tasks)
    catalog = Catalog(tasks.catalog)
    model, tokenizer = policy_model(cfg.writer)
    writer = ProfileVerbalizer(model, tokenizer, catalog, max_new_tokens=cfg.max_completion_length,
                               max_prompt_tokens=cfg.max_prompt_length, use_chat_template=cfg.use_chat_template)
    train_tasks = train.tasks()
    rows = [{"prompt": as_prompt(writer.prompt_for(t), tokenizer, cfg.use_chat_template), "task_id": t.task_id}
            for t in train_tasks]
    reasoner = EmbeddingReasoner(_embedding(cfg, resume), catalog, scope=cfg.reward_scope)
    eos = tokenizer.eos_token_id
    reward = ProfileRankingReward(reasoner, train_tasks, cfg.reward_metric, cfg.reward_scope,
                                  cap=cfg.max_completion_length, eos_ids=[eos] if eos is not None else [])
    collector = _PairCollector(reward, catalog)
    contrastive_log: list[dict] = []
    callbacks = []
    if cfg.contrastive_every:
        updater = ContrastiveUpdater(reasoner.model, cfg.contrastive_lr, cfg.contrastive_batch, cfg.contrastive_scale)
        callbacks.append(_callback(collector, reasoner, updater, cfg.contrastive_every, out, contrastive_log))
    run_grpo(cfg, stage="langptune-writer", model=model, tokenizer=tokenizer, reward_funcs=[collector],
             reward_weights=[1.0], dataset=Dataset.from_list(rows), data_hash=tasks.meta.get("data_hash", "unknown"),
             resume=resume, callbacks=callbacks,
             extra={"kind": "profile", "writer": cfg.writer, "embedding_model": cfg.embedding_model,
                    "reward": f"{cfg.reward_scope}:{cfg.reward_metric}", "contrastive": contrastive_log})
    if cfg.contrastive_every:
        distributed.on_main(reasoner.model.save, str(out / EMBEDDING_DIR))
    return out


# ----------------------------------------------------------------------------------------- evaluation

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
    reasoner = EmbeddingReasoner(_embedding(cfg, resume=True), catalog)
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
        zs, tr = results[3], results[4]
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


def _curves(out: Path, metric: str) -> tuple[list[dict], list[dict]]:
    run = out / RUN_FILE
    if not run.exists():
        return [], []
    doc = json.loads(run.read_text())
    key = f"rewards/profile_{metric}/mean"
    curves = [{"step": h["step"], "reward": h[key], **({"capped_rate": h["profile/capped_rate"]}
                                                       if "profile/capped_rate" in h else {})}
              for h in doc.get("log_history", []) if key in h]
    return curves, doc.get("contrastive", [])


def run_langptune(cfg: LangPTuneConfig, resume: bool = False) -> dict:
    """Train (unless ``skip_train``), evaluate, write ``out/langptune.json``; return that document:
    ``{"rows": [...], "examples": [{"user_id", "before", "after"}], "curves": [{"step", "reward"}], ...}``."""
    from ..atomic import write_json

    out = Path(cfg.out)
    t0 = time.perf_counter()
    if not cfg.skip_train:
        train_langptune(cfg, resume=resume)
        if not distributed.is_main_process():
            return {}  # the main process evaluates, once
    elif not (out / "config.json").exists():
        raise InputError("no trained writer in the run directory", file=out, field="skip_train",
                         fix="train first (drop --skip-train) or point --out at a finished run")
    train_s = time.perf_counter() - t0
    doc = evaluate_langptune(cfg, str(out))
    curves, contrastive = _curves(out, cfg.reward_metric)
    doc.update({"curves": curves, "contrastive": contrastive})
    doc["meta"]["train_s"] = round(train_s, 1)
    doc["meta"]["config"] = {k: v for k, v in vars(cfg).items()}
    write_json(out / RESULTS, doc)
    return doc


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
