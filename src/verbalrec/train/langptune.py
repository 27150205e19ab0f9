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

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..tasks.schema import Task
from . import distributed
from .langptune_config import EMBEDDING_DIR, RESULTS, LangPTuneConfig, embedding_model
from .langptune_eval import evaluate_langptune, reward_curves


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
    reasoner = EmbeddingReasoner(embedding_model(cfg, resume), catalog, scope=cfg.reward_scope)
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
    curves, contrastive = reward_curves(out, cfg.reward_metric)
    doc.update({"curves": curves, "contrastive": contrastive})
    doc["meta"]["train_s"] = round(train_s, 1)
    doc["meta"]["config"] = {k: v for k, v in vars(cfg).items()}
    write_json(out / RESULTS, doc)
    return doc


