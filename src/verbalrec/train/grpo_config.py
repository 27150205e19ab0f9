"""Configs of the paper's two GRPO stages (section 4.3-4.4), and their mapping onto TRL's ``GRPOConfig``.

``GRPOCommon`` holds what both stages share -- the GRPO objective (eqs. 5 and 8: group size G,
clip epsilon, KL weight beta, per-sequence 1/|x| normalisation), batching, checkpoints, seeds,
optional LoRA and the GPU-only pass-throughs (vLLM, bf16). ``Stage1Config`` adds the oracle and the
reward mix (eqs. 4 and 6); ``Stage2Config`` adds the frozen Verbalizer (eq. 7 needs nothing more).
Every field has a ``help`` string, so ``verbalrec.config.add_fields`` turns it into a CLI flag.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ..compression import PLATEAU_HIGH, PLATEAU_LOW
from ..config import check as _check
from ..config import help_meta as _h
from ..config import yaml_with_overrides
from ..reason import ENDPOINT_MODES, LM_MODES, READER_MODES, is_endpoint
from ..rewards import STAGE1_REWARDS
from ..verbalize import KINDS, VERBALIZERS

LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo")






@dataclass(kw_only=True)
class GRPOCommon:
    tasks: str = field(metadata=_h("task folder; only its train split is used"))
    out: str = field(metadata=_h("run directory: the trained model, provenance and checkpoints/"))
    policy: str = field(metadata=_h("model directory of the policy to train (e.g. a warm-started one)"))
    max_tasks: int = field(default=0, metadata=_h("use at most this many training tasks (0 = all)"))
    max_prompt_length: int = field(default=1024, metadata=_h("prompt tokens; the oldest history is cut first"))
    max_completion_length: int = field(default=256, metadata=_h("tokens sampled per completion"))
    num_generations: int = field(default=4, metadata=_h("G: completions sampled per prompt (eqs. 3, 7); >= 2"))
    prompts_per_step: int = field(default=2, metadata=_h("prompts per micro-batch (x G completions each)"))
    grad_accum: int = field(default=1, metadata=_h("micro-batches per optimizer step (one generation batch)"))
    learning_rate: float = field(default=1e-5, metadata=_h("AdamW learning rate (tiny in-project models: ~1e-3)"))
    lr_scheduler: str = field(default="constant", metadata=_h("transformers scheduler name, e.g. constant, cosine"))
    beta: float = field(default=0.04, metadata=_h(
        "KL weight beta to the frozen start policy (eqs. 5, 8); 0 drops the reference model"))
    epsilon: float = field(default=0.2, metadata=_h("clip range epsilon of the importance ratio (eqs. 5, 8)"))
    loss_type: str = field(default="grpo", metadata=_h(
        "TRL loss aggregation: grpo = the paper's 1/|x_i| per sequence; dapo/dr_grpo/bnpo remove its length bias"))
    temperature: float = field(default=1.0, metadata=_h("sampling temperature of the policy"))
    epochs: float = field(default=1.0, metadata=_h("passes over the training tasks"))
    max_steps: int = field(default=-1, metadata=_h("stop after this many optimizer steps (-1 = epochs decide)"))
    logging_steps: int = field(default=10, metadata=_h("log rewards and loss every this many steps"))
    save_steps: int = field(default=50, metadata=_h("checkpoint every this many steps (resume continues from the last)"))
    save_total_limit: int = field(default=2, metadata=_h("checkpoints kept on disk"))
    seed: int = field(default=0, metadata=_h("seed of data order, sampling and dropout (TRL seed and data_seed)"))
    cpu_threads: int = field(default=0, metadata=_h(
        "torch CPU threads while training (0 = torch's default; 1 is fastest for tiny models on a busy machine)"))
    lora_r: int = field(default=0, metadata=_h("LoRA rank (0 = train all weights); the saved model is merged"))
    lora_alpha: int = field(default=32, metadata=_h("LoRA alpha"))
    lora_dropout: float = field(default=0.05, metadata=_h("LoRA dropout"))
    lora_targets: str = field(default="all-linear", metadata=_h("LoRA target modules, comma-separated or all-linear"))
    gradient_checkpointing: bool = field(default=False, metadata=_h("trade compute for memory (GPU, large models)"))
    bf16: bool = field(default=False, metadata=_h("bfloat16 mixed precision (GPU only; ignored on CPU)"))
    use_vllm: bool = field(default=False, metadata=_h("generate with vLLM (GPU only, needs the vllm package)"))
    vllm_mode: str = field(default="colocate", metadata=_h("vLLM mode: colocate, or server (trl vllm-serve)"))
    log_completions: bool = field(default=False, metadata=_h("print/log sampled completions with their rewards"))
    report_to: str = field(default="none", metadata=_h("none, tensorboard or wandb (TRL's report_to)"))
    trl_overrides: dict = field(default_factory=dict, metadata=_h(
        "YAML only: extra trl.GRPOConfig fields, e.g. {vllm_server_base_url: ..., top_p: 0.95}"))

    def __post_init__(self):
        for name in ("tasks", "out", "policy"):
            _check(bool(str(getattr(self, name) or "").strip()), "must be given", name, f"set {name}")
        _check(self.num_generations >= 2, "GRPO needs at least 2 completions per prompt", "num_generations", "use >= 2")
        for name in ("prompts_per_step", "grad_accum", "save_steps", "logging_steps", "max_completion_length",
                     "save_total_limit"):
            _check(getattr(self, name) >= 1, "must be >= 1", name, "use a positive value")
        _check(self.max_prompt_length >= 64, "leaves no room for a history", "max_prompt_length", "use >= 64")
        _check(min(self.max_tasks, self.lora_r, self.cpu_threads) >= 0, "must be >= 0", "max_tasks/lora_r/cpu_threads",
               "use 0 or more")
        _check(self.beta >= 0 and self.epsilon > 0, "beta must be >= 0 and epsilon > 0", "beta", "e.g. 0.04 and 0.2")
        _check(self.learning_rate > 0 and self.temperature > 0, "must be > 0", "learning_rate", "use a positive value")
        _check(self.loss_type in LOSS_TYPES, f"unknown loss_type '{self.loss_type}'", "loss_type",
               f"use one of {LOSS_TYPES}")
        _check(self.vllm_mode in ("colocate", "server"), "unknown vllm_mode", "vllm_mode", "use colocate or server")
        _check(self.report_to in ("none", "tensorboard", "wandb"), "unknown report_to", "report_to",
               "use none, tensorboard or wandb")
        _check(isinstance(self.trl_overrides, dict), "must be a mapping", "trl_overrides", "write key: value lines")

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides):
        """The config in a YAML file; ``overrides`` (e.g. CLI flags that were given) win."""
        data = yaml_with_overrides(path, **overrides)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        _check(not unknown, f"unknown field(s) {unknown}", unknown[0] if unknown else "", f"use fields of {cls.__name__}")
        missing = sorted(f.name for f in dataclasses.fields(cls) if f.name not in data
                         and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
        _check(not missing, "required field missing", missing[0] if missing else "", f"set {', '.join(missing)}")
        return cls(**data)


@dataclass(kw_only=True)
class Stage1Config(GRPOCommon):
    """Stage 1 (eqs. 3-6): the Verbalizer policy, rewarded by a frozen oracle Reasoner."""

    oracle: str = field(metadata=_h("frozen oracle Reasoner: a model directory, or an http(s)://.../v1 endpoint"))
    kind: str = field(default="rewrite", metadata=_h(
        "verbalizer kind: rewrite (free text), action (one constrained keep/drop/enrich token per interaction) "
        "or action-text (the paper's eq. 2 lines, parsed)"))
    decisions: tuple[str, ...] = field(default=("keep", "drop", "enrich"), metadata=_h(
        "kind action: the decisions the policy chooses among, one token per interaction (two or more of keep, "
        "drop, enrich, short = the title alone); kind action-text writes the paper's eq. 2 lines instead"))
    decision_recency: bool = field(default=False, metadata=_h(
        "kind action: number each line the policy reads by its age (1 = newest), so it can decide by recency"))
    faithfulness_gate: bool = field(default=True, metadata=_h(
        "rewrite kind: a text that names none of the history's titles earns 0 on every reward term"))
    oracle_mode: str = field(default="", metadata=_h(
        "local oracle: likelihood (default), label, generate; embedding (oracle = a sentence-transformers name "
        "or directory, e.g. all-MiniLM-L6-v2) or itemknn-text (item-kNN over the titles the text names); endpoint: "
        "logprobs (default) or generate"))
    oracle_model: str = field(default="", metadata=_h("endpoint only: the served model name"))
    oracle_max_length: int = field(default=2048, metadata=_h("oracle prompt tokens (oldest context cut first)"))
    oracle_batch_size: int = field(default=16, metadata=_h("oracle forward batch size (label/generate modes)"))
    oracle_concurrency: int = field(default=32, metadata=_h(
        "endpoint oracle: requests in flight at once (per training process)"))
    oracle_async: bool = field(default=True, metadata=_h(
        "endpoint oracle: send requests from TRL's event loop (an async reward function; needs openai) "
        "rather than from a thread pool"))
    reward: str = field(default="accuracy", metadata=_h("accuracy (eq. 4), probability (the oracle's softmax at the target: a dense "
        "accuracy), or ranking (the paper's failed ablation)"))
    ranking_metric: str = field(default="mrr", metadata=_h("ranking reward: mrr or ndcg@10"))
    alpha: float = field(default=0.9, metadata=_h(
        "eq. 6 weight of accuracy; 1 - alpha weighs the length reward (1 = the no-length ablation)"))
    length_low: float = field(default=PLATEAU_LOW, metadata=_h("length reward plateau start (compression ratio vs template)"))
    length_high: float = field(default=PLATEAU_HIGH, metadata=_h("length reward plateau end"))
    use_chat_template: bool = field(default=True, metadata=_h(
        "wrap prompts in the tokenizer's chat template, if it has one"))

    def __post_init__(self):
        super().__post_init__()
        _check(self.kind in KINDS, f"unknown kind '{self.kind}'", "kind", f"use one of {KINDS}")
        from ..verbalize.decisions import ACTIONS  # here, not at the top: it imports torch (light CLI paths)
        self.decisions = tuple(self.decisions.split(",")) if isinstance(self.decisions, str) else tuple(self.decisions)
        _check(len(self.decisions) >= 2 and set(self.decisions) <= set(ACTIONS)
               and len(set(self.decisions)) == len(self.decisions), f"bad decisions {list(self.decisions)}",
               "decisions", f"use two or more of {', '.join(ACTIONS)}")
        _check(bool(self.oracle.strip()), "must be given", "oracle", "set a model directory or endpoint URL")
        modes = ENDPOINT_MODES if is_endpoint(self.oracle) else LM_MODES + READER_MODES
        self.oracle_mode = self.oracle_mode or modes[0]
        _check(self.oracle_mode in modes, f"oracle_mode '{self.oracle_mode}' does not fit this oracle", "oracle_mode",
               f"use one of {modes}")
        _check(self.reward in STAGE1_REWARDS, f"unknown reward '{self.reward}'", "reward",
               f"use {' or '.join(STAGE1_REWARDS)}")
        _check(self.ranking_metric in ("mrr", "ndcg@10"), "unknown ranking_metric", "ranking_metric", "use mrr or ndcg@10")
        _check(0.0 <= self.alpha <= 1.0, "alpha must be in [0, 1]", "alpha", "e.g. 0.9 (paper)")
        _check(0.0 < self.length_low < self.length_high, "need 0 < length_low < length_high", "length_low",
               "e.g. 0.3 and 0.7 (paper)")
        _check(self.oracle_max_length >= 64 and self.oracle_batch_size >= 1, "too small", "oracle_max_length",
               "use >= 64 tokens and batch >= 1")
        _check(self.oracle_concurrency >= 1, "must be >= 1", "oracle_concurrency", "use e.g. 32")


@dataclass(kw_only=True)
class Stage2Config(GRPOCommon):
    """Stage 2 (eqs. 7-8): the Reasoner policy on the frozen Verbalizer's fixed verbalizations."""

    verbalizer: str = field(default="template", metadata=_h(
        f"frozen verbalizer: one of {VERBALIZERS} (template = the raw-interaction ablation) or a trained model directory"))
    verbalizer_kind: str = field(default="", metadata=_h(
        "kind of a verbalizer model directory: rewrite or action (default: read from its verbalrec_run.json)"))
    verbalizer_max_new_tokens: int = field(default=256, metadata=_h(
        "verbalizer model: tokens per verbalization (0 = action auto-size)"))
    verbalizer_batch_size: int = field(default=8, metadata=_h("verbalizer model: generation batch size"))
    max_completion_length: int = field(default=16, metadata=_h("answer tokens sampled per completion (rollout=free)"))
    rollout: str = field(default="candidates", metadata=_h(
        "candidates: each sampled answer is one of the task's N candidate answers, drawn from the policy's "
        "likelihood of each (train.rollout); free: sample free text, then parse it"))
    answer_match: str = field(default="label", metadata=_h(
        "what decides the +-1 reward: label (the answer's letter; the paper) or title (the named title; for small "
        "models that never learned the letters)"))

    def __post_init__(self):
        super().__post_init__()
        known = self.verbalizer in VERBALIZERS or Path(self.verbalizer).is_dir()
        _check(known, f"'{self.verbalizer}' is neither a verbalizer name nor a model directory", "verbalizer",
               f"use one of {VERBALIZERS} or an existing directory")
        _check(self.answer_match in ("label", "title"), f"unknown answer_match '{self.answer_match}'", "answer_match",
               "use label or title")
        _check(self.rollout in ("candidates", "free"), f"unknown rollout '{self.rollout}'", "rollout",
               "use candidates or free")
        _check(self.verbalizer_kind in ("",) + KINDS, "unknown verbalizer_kind", "verbalizer_kind", f"use one of {KINDS}")
        _check(self.verbalizer_max_new_tokens >= 0 and self.verbalizer_batch_size >= 1, "must be >= 0 / >= 1",
               "verbalizer_max_new_tokens", "use positive values")


def trl_args(cfg: GRPOCommon, output_dir: str | Path, reward_weights: list[float]):
    """``trl.GRPOConfig`` for ``cfg``. TRL counts completions per device batch, so it gets
    prompts_per_step x G; ``trl_overrides`` are applied last (unknown names are an InputError)."""
    import torch
    from transformers import SchedulerType
    from trl import GRPOConfig

    schedulers = [s.value for s in SchedulerType]
    _check(cfg.lr_scheduler in schedulers, f"unknown lr_scheduler '{cfg.lr_scheduler}'", "lr_scheduler",
           f"use one of {schedulers}")
    names = {f.name for f in dataclasses.fields(GRPOConfig)}
    bad = sorted(set(cfg.trl_overrides) - names)
    _check(not bad, f"not a trl.GRPOConfig field: {bad}", "trl_overrides", "see trl/trainer/grpo_config.py")
    cuda = torch.cuda.is_available()
    kwargs = dict(
        output_dir=str(output_dir), per_device_train_batch_size=cfg.prompts_per_step * cfg.num_generations,
        gradient_accumulation_steps=cfg.grad_accum, num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length, temperature=cfg.temperature,
        learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler, beta=cfg.beta, epsilon=cfg.epsilon,
        loss_type=cfg.loss_type, scale_rewards="group", reward_weights=list(reward_weights),
        num_train_epochs=cfg.epochs, max_steps=cfg.max_steps, logging_steps=cfg.logging_steps,
        save_steps=cfg.save_steps, save_total_limit=cfg.save_total_limit, seed=cfg.seed, data_seed=cfg.seed,
        use_cpu=not cuda, bf16=cfg.bf16 and cuda, gradient_checkpointing=cfg.gradient_checkpointing,
        use_vllm=cfg.use_vllm, vllm_mode=cfg.vllm_mode, log_completions=cfg.log_completions,
        report_to=cfg.report_to, disable_tqdm=True)
    return GRPOConfig(**{**kwargs, **cfg.trl_overrides})


def lora_config(cfg: GRPOCommon):
    """PEFT ``LoraConfig`` when ``cfg.lora_r > 0``, else None (full fine-tuning)."""
    if not cfg.lora_r:
        return None
    from peft import LoraConfig

    targets = cfg.lora_targets if cfg.lora_targets == "all-linear" else [t.strip() for t in cfg.lora_targets.split(",")]
    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM")
