r"""Stage 1 (paper section 4.3, eqs. 3-6): GRPO of the Verbalizer against a frozen oracle Reasoner.

For each training history the policy samples G verbalizations (eq. 3, TRL's ``num_generations``).
Each is turned into the context the oracle reads exactly as at inference -- the verbalizer's own
``postprocess`` (rewrite: degenerate text falls back to the template; action: the sampled
``time, ID, k, m`` lines are executed on the task) -- and rewarded

.. math:: r_i = \alpha\, r_i^{acc} + (1-\alpha)\, r_i^{len}   \qquad (eqs. 4, 6)

as ``reward_funcs=[accuracy, length, compression_ratio]`` with ``reward_weights=[alpha, 1-alpha, 0]``,
so TRL logs ``rewards/accuracy/mean``, ``rewards/length/mean`` and ``rewards/compression_ratio/mean``
separately. TRL normalises rewards within each group and optimises the clipped objective (eq. 5).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..logs.catalog import Catalog
from ..logs.schema import NOISE_ENGAGEMENTS
from ..rewards import STAGE1_REWARDS, CompressionRatio, FaithfulnessReward, Gated, LengthReward
from ..tasks.schema import Task, TaskSet
from ..verbalize.kinds import TRAINABLE, make_policy_verbalizer
from ..verbalize.template import TemplateVerbalizer
from .grpo import policy_model, prepare_out, run_grpo, training_tasks
from .grpo_config import Stage1Config


def as_prompt(text: str, tokenizer, use_chat_template: bool):
    """Conversational when the tokenizer has a chat template (TRL then applies it, as
    ``llm.render_prompts`` does at inference), else the plain prompt string."""
    if use_chat_template and getattr(tokenizer, "chat_template", None):
        return [{"role": "user", "content": text}]
    return text


def completion_text(completion) -> str:
    """TRL passes a string, or a list of messages for conversational prompts."""
    return completion if isinstance(completion, str) else "".join(m.get("content") or "" for m in completion)


def verbalizer_rows(train: TaskSet, verbalizer, tokenizer, use_chat_template: bool = True) -> list[dict]:
    """One row per training task: the policy prompt, what the rewards read, and ``task_id`` for
    ``postprocess`` to find the task. ``template_chars`` is the full template's length (the
    compression ratio's denominator, Figure 2)."""
    template = TemplateVerbalizer(verbalizer.catalog)
    rows = []
    for batch in train.batches(512):
        for task, tmpl in zip(batch, template.verbalize(batch)):
            rows.append({"prompt": as_prompt(verbalizer.prompt_for(task), tokenizer, use_chat_template),
                         "candidates": list(task.candidates), "label": int(task.label),
                         "template_chars": len(tmpl), "task_id": task.task_id,
                         "history_titles": history_titles(task, verbalizer.catalog)})
    return rows


def history_titles(task: Task, catalog: Catalog) -> list[str]:
    """The distinct titles of the history's engaged (non-noise) interactions: what a faithful text names."""
    engagement = task.hist_engagement or [None] * len(task.hist_item)
    return list(dict.fromkeys(catalog.title(i) for i, e in zip(task.hist_item, engagement)
                              if e not in NOISE_ENGAGEMENTS))


class DecisionPostprocess:
    """``postprocess`` of the constrained action kind: the executor run on the rollout's ``actions``."""

    def __init__(self, catalog: Catalog, tasks: Sequence[Task]):
        self.catalog, self.tasks = catalog, {t.task_id: t for t in tasks}
        self._key, self._texts = None, []

    def __call__(self, completions, columns: dict) -> list[str]:
        from ..verbalize.action import execute_actions
        key = (tuple(columns["task_id"]), tuple(map(tuple, columns["actions"])))
        if key != self._key:
            self._texts = [execute_actions(self.tasks[i], a, self.catalog)
                           for i, a in zip(columns["task_id"], columns["actions"])]
            self._key = key
        return self._texts


class PolicyPostprocess:
    """``postprocess(completions, columns) -> contexts``, shared by every Stage 1 reward.

    The three rewards each ask for the same batch, so the last answer is memoised; the share of
    outputs the verbalizer replaced by its fallback is logged as ``verbalizer/fallback_rate``."""

    def __init__(self, verbalizer, tasks: Sequence[Task]):
        self.verbalizer, self.tasks = verbalizer, {t.task_id: t for t in tasks}
        self._key, self._texts = None, []

    def _context(self, completion: str, task: Task) -> str:
        """At inference a degenerate rewrite falls back to the template; while training that would
        pay an empty sample the template's accuracy, so the oracle sees it empty instead."""
        from ..verbalize.llm import RewriteVerbalizer, is_degenerate
        if isinstance(self.verbalizer, RewriteVerbalizer) and is_degenerate(completion.strip()):
            self.verbalizer.fallbacks += 1
            return ""
        return self.verbalizer.postprocess(completion, task)

    def __call__(self, completions, columns: dict) -> list[str]:
        raw, ids = [completion_text(c) for c in completions], list(columns["task_id"])
        if (raw, ids) != self._key:
            before = self.verbalizer.fallbacks
            self._texts = [self._context(c, self.tasks[i]) for c, i in zip(raw, ids)]
            self._key = (raw, ids)
            if "log_metric" in columns:
                columns["log_metric"]("verbalizer/fallback_rate", (self.verbalizer.fallbacks - before) / max(len(raw), 1))
        return self._texts


def make_oracle(cfg: Stage1Config, catalog: Catalog, out: Path, train=None):
    """The frozen oracle Reasoner: an endpoint (async by default), a local LM or a reader
    (``READER_MODES``, fit on ``train``), by ``reason.make_reasoner``."""
    from ..reason import READER_MODES, is_endpoint, make_reasoner
    if is_endpoint(cfg.oracle):
        from ..reason.endpoint import EndpointConfig, EndpointReasoner
        from ..reason.endpoint_async import AsyncEndpointReasoner
        conf = EndpointConfig(base_url=cfg.oracle, model=cfg.oracle_model, concurrency=cfg.oracle_concurrency,
                              mode=cfg.oracle_mode,
                              cache_path=str(out / "oracle_cache.sqlite"))
        return (AsyncEndpointReasoner if cfg.oracle_async else EndpointReasoner)(conf, catalog)
    oracle = make_reasoner(cfg.oracle_mode, cfg.oracle, catalog, max_length=cfg.oracle_max_length,
                           batch_size=cfg.oracle_batch_size, served_model=cfg.oracle_model,
                           cache_path=str(out / "oracle_cache.sqlite"))
    return oracle.fit(train) if cfg.oracle_mode in READER_MODES and train is not None else oracle


def stage1_rewards(cfg: Stage1Config, oracle, postprocess) -> tuple[list, list[float]]:
    """Reward functions and weights of eq. 6 (compression ratio and faithfulness: weight 0, logged
    only). Rewrite kind with ``faithfulness_gate``: both terms are 0 for a text naming no history title."""
    main = STAGE1_REWARDS[cfg.reward](oracle, cfg, postprocess)
    length = LengthReward(cfg.length_low, cfg.length_high, postprocess=postprocess)
    faith = FaithfulnessReward(postprocess)
    if cfg.kind == "rewrite" and cfg.faithfulness_gate:
        main, length = Gated(main, faith), Gated(length, faith)
    from ..reason.endpoint_async import AsyncEndpointReasoner, AsyncOracleReward
    if isinstance(oracle, AsyncEndpointReasoner):  # TRL awaits it on its event loop
        main = AsyncOracleReward(main)
    return [main, length, CompressionRatio(postprocess), faith], [cfg.alpha, 1.0 - cfg.alpha, 0.0, 0.0]


def train_verbalizer(cfg: Stage1Config, resume: bool = False) -> Path:
    """Stage 1: train the Verbalizer policy ``cfg.policy`` (kind ``cfg.kind``) into ``cfg.out``."""
    from datasets import Dataset

    out = prepare_out(cfg.out, resume)
    tasks, train = training_tasks(cfg.tasks, cfg.max_tasks)
    catalog = Catalog(tasks.catalog)
    model, tokenizer = policy_model(cfg.policy)
    verbalizer = make_policy_verbalizer(cfg.kind, model, tokenizer, catalog, max_new_tokens=cfg.max_completion_length,
                                        max_prompt_tokens=cfg.max_prompt_length,
                                        use_chat_template=cfg.use_chat_template,
                                        **({"decisions": cfg.decisions, "recency": cfg.decision_recency}
                                           if TRAINABLE[cfg.kind].decisions else {}))
    rollout = None
    if TRAINABLE[cfg.kind].decisions:
        from .decision_rollout import DecisionRollout
        rows = verbalizer_rows(train, verbalizer, tokenizer, use_chat_template=False)
        postprocess = DecisionPostprocess(catalog, train.tasks())
        rollout = DecisionRollout(verbalizer.layout, train.tasks(), cfg.temperature, cfg.seed)
    else:
        rows = verbalizer_rows(train, verbalizer, tokenizer, cfg.use_chat_template)
        postprocess = PolicyPostprocess(verbalizer, train.tasks())
    funcs, weights = stage1_rewards(cfg, make_oracle(cfg, catalog, out, tasks.split("train")), postprocess)
    return run_grpo(cfg, stage="stage1-verbalizer", model=model, tokenizer=tokenizer, reward_funcs=funcs,
                    reward_weights=weights, dataset=Dataset.from_list(rows),
                    data_hash=tasks.meta.get("data_hash", "unknown"), resume=resume, rollout_func=rollout,
                    decision_tokens=rollout.layout.token_ids if rollout else None,
                    extra={"kind": cfg.kind, "oracle": cfg.oracle, "oracle_mode": cfg.oracle_mode,
                           **({"decisions": list(cfg.decisions), "decision_recency": cfg.decision_recency}
                              if rollout else {})})
