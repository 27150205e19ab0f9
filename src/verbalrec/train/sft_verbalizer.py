"""Warm start of the Verbalizer (a stage of our own, before the paper's Stage 1 GRPO).

GRPO only reinforces what the policy already samples now and then: a model that has never written
a verbalization (an in-project model, or an off-the-shelf one that ignores the format) gets all-equal
rewards, so zero advantages and no signal (paper eq. 5). This stage first teaches the format by
supervised fine-tuning (TRL ``SFTTrainer``, prompt-completion pairs, loss on the completion only):

* prompt = the policy's own prompt, ``RewriteVerbalizer.prompt_for(task)`` or
  ``ActionVerbalizer.prompt_for(task)`` -- byte-identical to what Stage 1 samples from;
* completion = a sensible hand-made target: the ``HeuristicVerbalizer`` text (rewrite kind), or
  ``format_actions(task, heuristic_actions(task, catalog))`` (action-text kind, paper eq. 2).

Only training-split tasks are used. Stage 1 then starts from ``cfg.out`` (``Stage1Config.policy``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..config import help_meta as _h
from ..config import yaml_with_overrides
from ..errors import InputError
from ..logs.catalog import Catalog
from ..models.threads import cpu_threads
from ..tasks.schema import TaskSet
from ..verbalize.kinds import KINDS, TRAINABLE, make_policy_verbalizer, sft_targets
from . import distributed
from .grpo import CHECKPOINTS, last_checkpoint, prepare_out, training_tasks
from .provenance import run_summary, save_provenance
from .stage1 import as_prompt


@dataclass
class VerbalizerSFTConfig:
    tasks: str = field(metadata=_h("task folder (its train split is the corpus)"))
    out: str = field(metadata=_h("model directory to write (checkpoints in out/checkpoints)"))
    model: str = field(metadata=_h("model directory to start from (e.g. a warm-started or built one)"))
    kind: str = field(default="rewrite", metadata=_h(
        "rewrite (heuristic text targets) or action-text (heuristic k, m lines); the constrained action kind needs no SFT"))
    max_tasks: int = field(default=0, metadata=_h("use at most this many training tasks (0 = all)"))
    max_prompt_length: int = field(default=1024, metadata=_h("prompt tokens; oldest history lines cut first (keep equal to Stage 1's)"))
    max_length: int = field(default=2048, metadata=_h("prompt + completion tokens; longer targets are cut at the end"))
    epochs: float = field(default=1.0, metadata=_h("passes over the corpus"))
    max_steps: int = field(default=-1, metadata=_h("stop after this many optimizer steps (-1 = epochs decide)"))
    batch_size: int = field(default=8, metadata=_h("examples per optimizer step"))
    learning_rate: float = field(default=1e-4, metadata=_h("peak learning rate, cosine decay (tiny in-project models: ~3e-3)"))
    save_steps: int = field(default=100, metadata=_h("checkpoint every this many steps (resume continues from the last)"))
    logging_steps: int = field(default=10, metadata=_h("log the loss every this many steps"))
    seed: int = field(default=0, metadata=_h("seed of data order and dropout (TRL seed and data_seed)"))
    cpu_threads: int = field(default=0, metadata=_h("torch CPU threads while training (0 = torch's default)"))
    use_chat_template: bool = field(default=True, metadata=_h("wrap prompts in the tokenizer's chat template, if it has one"))
    report_to: str = field(default="none", metadata=_h("none, tensorboard or wandb (TRL's report_to)"))

    def __post_init__(self):
        warmable = [k for k in KINDS if TRAINABLE[k].sft]
        if self.kind not in warmable:
            raise InputError(f"kind '{self.kind}' has no SFT warm start", field="kind", fix=f"use one of {warmable}")
        if self.max_prompt_length < 64 or self.max_length <= self.max_prompt_length:
            raise InputError("need 64 <= max_prompt_length < max_length", field="max_length",
                             fix="leave room for the completion, e.g. 1024 and 2048")
        if min(self.batch_size, self.save_steps, self.logging_steps) < 1 or self.cpu_threads < 0:
            raise InputError("batch_size, save_steps and logging_steps must be >= 1, cpu_threads >= 0", field="batch_size",
                             fix="use positive values")

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> "VerbalizerSFTConfig":
        try:
            return cls(**yaml_with_overrides(path, **overrides))
        except TypeError as err:
            raise InputError(f"bad or missing config field ({err})", file=path, fix="see the fields of "
                             "VerbalizerSFTConfig") from None


def sft_rows(train: TaskSet, verbalizer, tokenizer, use_chat_template: bool = True) -> list[dict]:
    """Prompt-completion pairs over the training tasks (conversational when a chat template is used)."""
    rows = []
    for batch in train.batches(512):
        for task, target in zip(batch, sft_targets(verbalizer.kind, batch, verbalizer.catalog)):
            prompt = as_prompt(verbalizer.prompt_for(task), tokenizer, use_chat_template)
            completion = target if isinstance(prompt, str) else [{"role": "assistant", "content": target}]
            rows.append({"prompt": prompt, "completion": completion, "task_id": task.task_id})
    return rows


def sft_verbalizer(cfg: VerbalizerSFTConfig, resume: bool = False) -> Path:
    """Fine-tune ``cfg.model`` on the heuristic targets; save model, tokenizer, provenance in ``cfg.out``."""
    import torch
    from datasets import Dataset
    from trl import SFTConfig

    from .sft_trainer import sft_trainer_class

    from ..models import load_causal_lm

    out = prepare_out(cfg.out, resume)
    tasks, train = training_tasks(cfg.tasks, cfg.max_tasks)
    model, tokenizer = load_causal_lm(cfg.model, padding_side="right")
    verbalizer = make_policy_verbalizer(cfg.kind, model, tokenizer, Catalog(tasks.catalog), max_new_tokens=1,
                                        max_prompt_tokens=cfg.max_prompt_length, use_chat_template=cfg.use_chat_template)
    rows = sft_rows(train, verbalizer, tokenizer, cfg.use_chat_template)
    ckpt = out / CHECKPOINTS
    args = SFTConfig(output_dir=str(ckpt), max_length=cfg.max_length, per_device_train_batch_size=cfg.batch_size,
                     num_train_epochs=cfg.epochs, max_steps=cfg.max_steps, learning_rate=cfg.learning_rate,
                     lr_scheduler_type="cosine", warmup_steps=0.05, weight_decay=0.01, logging_steps=cfg.logging_steps,
                     save_steps=cfg.save_steps, save_total_limit=2, seed=cfg.seed, data_seed=cfg.seed,
                     use_cpu=not torch.cuda.is_available(), bf16=False, report_to=cfg.report_to,
                     completion_only_loss=True, packing=False, disable_tqdm=True, activation_checkpointing=False)
    trainer = sft_trainer_class()(model=model.train(), args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer)
    start = last_checkpoint(ckpt) if resume else None
    t0 = time.perf_counter()
    with cpu_threads(cfg.cpu_threads):
        result = trainer.train(resume_from_checkpoint=str(start) if start else None)
    trainer.save_model(str(out))
    distributed.on_main(tokenizer.save_pretrained, str(out))
    save_provenance(out, cfg, tasks.meta.get("data_hash", "unknown"), {
        "stage": "sft-verbalizer", "examples": len(rows),
        **run_summary(result.training_loss, trainer.state, int(start.name.split("-")[-1]) if start else 0,
                      time.perf_counter() - t0),
        "log_history": trainer.state.log_history})
    return out
