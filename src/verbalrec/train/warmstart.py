"""Warm start for small from-scratch models (a stage of our own, before the paper's GRPO stages).

A model built in-project knows no language; one answer token per task is too little signal for
it to learn anything (measured: chance level). So it first learns the domain densely: each
training task is written in the exact reasoner layout -- instruction, fenced verbalized history,
candidates, 'Answer:' and the target's line ' B. Title' -- and *every* token is predicted (TRL
``SFTTrainer`` on a plain text dataset). Histories come in each verbalized form the model will
read (template, heuristic, ...). Only training-split tasks are used: no valid/test target is seen.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..reason.prompt import answer_text, build_prompt, fit_prompt
from ..tasks.schema import TaskSet
from ..verbalize import VERBALIZERS, make_verbalizer
from ..verbalize.template import Catalog, candidate_labels
from .provenance import run_summary, save_provenance


@dataclass
class WarmStartConfig:
    tasks: str = field(metadata={"help": "task folder (its train split is the corpus)"})
    out: str = field(metadata={"help": "model directory to write"})
    size: str = field(default="small", metadata={"help": "in-project model size: tiny, small or base"})
    verbalizers: tuple[str, ...] = field(default=("template",), metadata={
        "help": "verbalized forms of the histories in the corpus, e.g. template,heuristic"})
    max_length: int = field(default=1024, metadata={"help": "tokens per example; oldest history cut first"})
    max_tasks: int = field(default=0, metadata={"help": "use at most this many training tasks (0 = all)"})
    epochs: float = field(default=1.0, metadata={"help": "passes over the corpus"})
    max_steps: int = field(default=-1, metadata={"help": "stop after this many optimizer steps (-1 = epochs decide)"})
    batch_size: int = field(default=8, metadata={"help": "examples per optimizer step"})
    learning_rate: float = field(default=3e-3, metadata={"help": "peak learning rate (cosine decay, 5% warm-up)"})
    save_steps: int = field(default=100, metadata={"help": "checkpoint every this many steps (resume continues from the last)"})
    seed: int = field(default=0, metadata={"help": "seed of tokenizer/model init, data order and dropout"})
    report_to: str = field(default="none", metadata={"help": "none, tensorboard or wandb (TRL's report_to)"})

    def __post_init__(self):
        self.verbalizers = tuple(self.verbalizers.split(",") if isinstance(self.verbalizers, str) else self.verbalizers)
        for v in self.verbalizers:
            if v not in VERBALIZERS:
                raise InputError(f"unknown verbalizer '{v}'", field="verbalizers", fix=f"use some of {VERBALIZERS}")
        if self.max_length < 128:
            raise InputError("max_length below 128 leaves no room for a history", field="max_length", fix="use >= 128")
        if self.batch_size < 1 or self.save_steps < 1:
            raise InputError("batch_size and save_steps must be >= 1", field="batch_size", fix="use positive values")


def corpus(tasks: TaskSet, verbalizers: tuple[str, ...], tokenizer, max_length: int) -> list[str]:
    """One dense-LM example per (training task, verbalizer): prompt + the target's answer line."""
    catalog = Catalog(tasks.catalog)
    texts = []
    for name in verbalizers:
        verbalizer = make_verbalizer(name, catalog)
        for batch in tasks.batches(512):
            for task, context in zip(batch, verbalizer.verbalize(batch)):
                label = candidate_labels(len(task.candidates))[task.label]
                prompt = (fit_prompt(tokenizer, context, task.candidates, catalog, max_length) if tokenizer
                          else build_prompt(context, task.candidates, catalog))
                texts.append(prompt + answer_text(label, catalog.title(task.target_item)))
    return texts


def warm_start(cfg: WarmStartConfig, resume: bool = False) -> Path:
    """Build (or resume) the model in ``cfg.out`` and train it on the dense corpus."""
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from ..models import build_and_save, load_causal_lm
    from ..tasks import load_tasks

    tasks = load_tasks(cfg.tasks)
    train = tasks.split("train")
    if cfg.max_tasks:
        train = train.head(cfg.max_tasks)
    if len(train) == 0:
        raise InputError("no training tasks", file=cfg.tasks, fix="build tasks with a train split")
    out, ckpt = Path(cfg.out), Path(cfg.out) / "checkpoints"
    if not (out / "config.json").exists():
        # the tokenizer learns from the corpus itself (built without truncation for this purpose)
        build_and_save(corpus(train, cfg.verbalizers, None, cfg.max_length), out, cfg.size, seed=cfg.seed)
    elif not resume and not ckpt.exists():
        raise InputError("model directory exists", file=out, fix="pass --resume to continue it, or a new --out")
    model, tokenizer = load_causal_lm(out, padding_side="right")
    model.train()
    texts = corpus(train, cfg.verbalizers, tokenizer, cfg.max_length)
    random.Random(cfg.seed).shuffle(texts)
    args = SFTConfig(output_dir=str(ckpt), max_length=cfg.max_length, per_device_train_batch_size=cfg.batch_size,
                     num_train_epochs=cfg.epochs, max_steps=cfg.max_steps, learning_rate=cfg.learning_rate,
                     lr_scheduler_type="cosine", warmup_steps=0.05, weight_decay=0.01, logging_steps=10,
                     save_steps=cfg.save_steps, save_total_limit=2, seed=cfg.seed, data_seed=cfg.seed,
                     use_cpu=not torch.cuda.is_available(), bf16=False, report_to=cfg.report_to,
                     dataset_text_field="text", packing=False, disable_tqdm=False)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_dict({"text": texts}),
                         processing_class=tokenizer)
    t0 = time.perf_counter()
    has_ckpt = resume and ckpt.exists() and any(ckpt.glob("checkpoint-*"))
    start = max(int(p.name.split("-")[-1]) for p in ckpt.glob("checkpoint-*")) if has_ckpt else 0  # as TRL picks
    result = trainer.train(resume_from_checkpoint=True if has_ckpt else None)
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    save_provenance(out, cfg, tasks.meta.get("data_hash", "unknown"), {
        "stage": "warmstart", "examples": len(texts),
        **run_summary(result.training_loss, trainer.state, start, time.perf_counter() - t0),
        "log_history": trainer.state.log_history})
    return out
