"""LangPTune's config: the profile writer's GRPO run, its embedding reasoner, and the evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..reason.embedding import DEFAULT_EMBEDDING, SCOPES
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


def embedding_model(cfg: LangPTuneConfig, resume: bool = True):
    from ..reason.embedding import load_embedding_model
    saved = Path(cfg.out) / EMBEDDING_DIR
    return load_embedding_model(str(saved) if resume and saved.exists() else cfg.embedding_model)
