r"""Stage 2 (paper section 4.4, eqs. 7-8): GRPO of the Reasoner on a frozen Verbalizer's output.

The Verbalizer is frozen and writes every training history once, :math:`x = \phi_\theta(H_u)`
(through ``CachedVerbalizer``, a sqlite cache in the run directory, so a resumed run generates
nothing twice). The Reasoner reads the one prompt layout every reasoner uses
(``reason.prompt.fit_prompt``), samples G answers, and each earns +1 if it names the target, else
-1 (eq. 7, ``rewards.ReasonerReward``); TRL optimises the clipped objective with KL (eq. 8).
``verbalizer="template"`` is the paper's raw-interaction ablation (Table 2).
"""

from __future__ import annotations

from pathlib import Path

from ..logs.catalog import Catalog
from ..reason.prompt import answer_text, fit_prompt
from ..rewards import ReasonerReward
from ..tasks.schema import TaskSet
from ..verbalize import VERBALIZERS, make_verbalizer
from ..verbalize.cache import CachedVerbalizer, VerbalizationCache
from ..verbalize.kinds import load_verbalizer_model
from . import distributed
from .grpo import policy_model, prepare_out, run_grpo, training_tasks
from .grpo_config import Stage2Config

def frozen_verbalizer(cfg: Stage2Config, catalog: Catalog):
    """A named verbalizer, or a trained verbalizer model (kind and prompt budget from its run)."""
    if cfg.verbalizer in VERBALIZERS:
        return make_verbalizer(cfg.verbalizer, catalog)
    return load_verbalizer_model(cfg.verbalizer, catalog, kind=cfg.verbalizer_kind,
                                 max_new_tokens=cfg.verbalizer_max_new_tokens, batch_size=cfg.verbalizer_batch_size)


def verbalize_once(train: TaskSet, verbalizer, cache_path: Path) -> tuple[list[str], dict]:
    """Each training history verbalized once (cached: a crash keeps what was done)."""
    cached = CachedVerbalizer(verbalizer, VerbalizationCache(cache_path))
    texts = [t for batch in train.batches(256) for t in cached.verbalize(batch)]
    return texts, {"verbalizer_name": cached.name, "verbalizer_version": cached.version, "generated": cached.misses}


def verbalize_shared(train: TaskSet, verbalizer, cache_path: Path) -> tuple[list[str], dict]:
    """``verbalize_once`` across processes: each writes its share of the histories into the shared
    cache first, then every process reads all of them from it."""
    if distributed.world_size() == 1:
        return verbalize_once(train, verbalizer, cache_path)
    mine = TaskSet(train.table.take(distributed.share(len(train))), train.catalog, train.meta)
    generated = sum(distributed.gather_objects([verbalize_once(mine, verbalizer, cache_path)[1]["generated"]]))
    texts, info = verbalize_once(train, verbalizer, cache_path)
    return texts, {**info, "generated": generated}


def reasoner_rows(train: TaskSet, contexts: list[str], tokenizer, catalog: Catalog, max_length: int,
                  with_candidates: bool = True) -> list[dict]:
    """One row per training task: the reasoner prompt and what ``ReasonerReward`` reads."""
    return [{"prompt": fit_prompt(tokenizer, ctx, task.candidates, catalog, max_length, with_candidates=with_candidates),
             "candidate_titles": [catalog.title(c) for c in task.candidates],
             "label": int(task.label), "task_id": task.task_id}
            for task, ctx in zip(train.tasks(), contexts)]


def train_reasoner(cfg: Stage2Config, resume: bool = False) -> Path:
    """Stage 2: train the Reasoner policy ``cfg.policy`` on ``cfg.verbalizer``'s contexts into ``cfg.out``."""
    from datasets import Dataset

    out = prepare_out(cfg.out, resume)
    tasks, train = training_tasks(cfg.tasks, cfg.max_tasks)
    catalog = Catalog(tasks.catalog)
    verbalizer = frozen_verbalizer(cfg, catalog)
    contexts, info = verbalize_shared(train, verbalizer, out / "verbalizations.sqlite")
    del verbalizer  # frees a verbalizer model before the policy loads
    model, tokenizer = policy_model(cfg.policy)
    # constrained rollouts score each candidate answer, as the likelihood Reasoner does: no list
    rows = reasoner_rows(train, contexts, tokenizer, catalog, cfg.max_prompt_length,
                         with_candidates=cfg.rollout == "free")
    rollout = None
    if cfg.rollout == "candidates":
        import os
        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is marked experimental in TRL
        from .rollout import CandidateRollout
        rollout = CandidateRollout({r["prompt"]: [answer_text(t) for t in r["candidate_titles"]] for r in rows},
                                   tokenizer, temperature=cfg.temperature, seed=cfg.seed)
    return run_grpo(cfg, stage="stage2-reasoner", model=model, tokenizer=tokenizer, reward_funcs=[ReasonerReward(cfg.answer_match)],
                    reward_weights=[1.0], dataset=Dataset.from_list(rows),
                    data_hash=tasks.meta.get("data_hash", "unknown"), resume=resume, extra=info, rollout_func=rollout)
