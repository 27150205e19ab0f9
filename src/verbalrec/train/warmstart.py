"""Warm start for small from-scratch models (a stage of our own, before the paper's GRPO stages).

A model built in-project knows no language; one answer token per task is too little signal for
it to learn anything (measured: chance level). So it first learns the domain densely, as a plain
language model (TRL ``SFTTrainer``, every token predicted, sequences packed), on two kinds of
text built from the training split only:

* **history documents**: each user's training events, cut into windows and written in a seeded
  mix of verbalizations (``verbalize.mix``: template, template + metadata, heuristic, titles,
  sentences, random field drops, random line subsets). Every line is a next-item prediction, in
  every wording, so the model learns the items rather than one layout;
* **prompt documents**: training tasks in the exact reasoner layout -- instruction, fenced history
  (a mix wording again), candidates, ``Answer:`` and the target's title -- so the answer position
  the likelihood Reasoner scores is trained too.

No valid/test target is ever seen: both kinds come from ``tasks.schema.training_events`` and the
training tasks, which precede every evaluation target (``leave_last``).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..config import help_meta as _h
from ..errors import InputError
from ..logs.catalog import Catalog
from ..reason.prompt import answer_text, build_prompt, fit_prompt
from ..tasks.schema import Task, TaskSet, training_events, without_engagements
from ..verbalize.mix import HISTORY_PASSES, MIX_STYLES, VerbalizationMix, check_mix
from . import distributed
from .provenance import run_summary, save_provenance
from .sft_trainer import sft_trainer_class


@dataclass
class WarmStartConfig:
    tasks: str = field(metadata=_h("task folder (its train split is the corpus)"))
    out: str = field(metadata=_h("model directory to write"))
    size: str = field(default="tiny", metadata=_h("in-project model size: tiny, mini, small or base (docs/reasoner.md)"))
    item_tokens: bool = field(default=True, metadata=_h("each catalog title is one token of the tokenizer (a history line costs a few tokens, "
                "a candidate's likelihood is one softmax over the items)"))
    vocab_size: int = field(default=1000, metadata=_h("BPE vocabulary besides the title tokens (0 = the size's default)"))
    history_passes: dict = field(default_factory=lambda: dict(HISTORY_PASSES), metadata=_h("history documents: times each user's training events are written in each style "
                "(verbalize.mix.MIX_STYLES; fractions cover that share of the users)"))
    mix: dict = field(default_factory=lambda: dict(MIX_STYLES), metadata=_h("prompt documents: styles of the history and their weights"))
    subset_p: float = field(default=0.25, metadata=_h("share of texts written over a random subset of lines"))
    window: tuple[int, int] = field(default=(8, 40), metadata=_h("history documents: events per window, drawn uniformly in [low, high]"))
    prompt_share: float = field(default=0.3, metadata=_h("prompt documents: share of training tasks written in the reasoner layout (0 = none)"))
    max_length: int = field(default=1024, metadata=_h("tokens per packed sequence; prompts fit it, oldest lines cut first"))
    skip_engagements: tuple[str, ...] = field(default=(), metadata=_h(
        "engagements left out of the corpus, e.g. [trailer, preview]: a Reasoner that learns noise as "
        "signal reads noisy histories worse (synthetic logs: docs/stage1.md); evaluation texts are untouched"))
    max_tasks: int = field(default=0, metadata=_h("use at most this many training tasks (0 = all)"))
    epochs: float = field(default=1.0, metadata=_h("passes over the corpus (0.7 reads better frozen but Stage 2 then gains less: docs/reasoner.md)"))
    max_steps: int = field(default=-1, metadata=_h("stop after this many optimizer steps (-1 = epochs decide)"))
    batch_size: int = field(default=2, metadata=_h("packed sequences per optimizer step (2: four times the updates of 8 for the "
                "same tokens; docs/reasoner.md)"))
    learning_rate: float = field(default=1.5e-3, metadata=_h("peak learning rate (cosine decay, 5% warm-up; 1.5e-3 reads 3-5% better "
                "frozen than 3e-3 on three seeds: docs/reasoner.md)"))
    weight_decay: float = field(default=0.01, metadata=_h("AdamW weight decay (docs/reasoner.md: tries)"))
    save_steps: int = field(default=100, metadata=_h("checkpoint every this many steps (resume continues from the last)"))
    seed: int = field(default=0, metadata=_h("seed of the corpus, tokenizer/model init, data order and dropout"))
    report_to: str = field(default="none", metadata=_h("none, tensorboard or wandb (TRL's report_to)"))

    def __post_init__(self):
        self.mix = check_mix(self.mix)
        self.history_passes = check_mix(self.history_passes) if self.history_passes else {}
        self.window = tuple(int(w) for w in self.window)
        self.skip_engagements = tuple(str(e) for e in self.skip_engagements)
        if len(self.window) != 2 or not 1 <= self.window[0] <= self.window[1]:
            raise InputError(f"bad window {self.window}", field="window", fix="give [low, high] with 1 <= low <= high")
        if self.max_length < 128:
            raise InputError("max_length below 128 leaves no room for a history", field="max_length", fix="use >= 128")
        if self.batch_size < 1 or self.save_steps < 1:
            raise InputError("batch_size and save_steps must be >= 1", field="batch_size", fix="use positive values")
        if not (0 <= self.prompt_share <= 1 and 0 <= self.subset_p <= 1):
            raise InputError("prompt_share and subset_p must be in [0, 1]",
                             field="prompt_share", fix="use shares between 0 and 1")


def _window_task(user: str, events: list[dict]) -> Task:
    """A pseudo-task whose history is ``events`` (the verbalizers read tasks)."""
    col = lambda k: [e[k] for e in events]  # noqa: E731
    return Task(task_id="", user_id=user, split="train", target_time=0, target_item="", discovery=False,
                label=0, candidates=[], hist_item=col("item_id"), hist_time=col("timestamp"),
                hist_engagement=[e["engagement"] or "play" for e in events], hist_duration=col("duration_min"),
                hist_device=col("device"), hist_rating=col("rating"))


def history_documents(train: TaskSet, catalog: Catalog, passes: dict[str, float], window: tuple[int, int],
                      subset_p: float, rng: random.Random) -> list[str]:
    """Each user's training events cut into windows of random length, written ``passes[style]``
    times in each style (a fractional pass covers that share of the users). Cheap styles (titles:
    ~2 tokens an event) carry the sequence signal many times over; wordy ones teach reading."""
    docs = []
    users = sorted(training_events(train).items())
    for style, n in passes.items():
        mix = VerbalizationMix(catalog, {style: 1.0}, subset_p)
        for p in range(math.ceil(n)):
            chosen = users if p + 1 <= n else rng.sample(users, round((n - p) * len(users)))
            for user, events in chosen:
                start = rng.randrange(min(window[0], len(events)))  # a new cut each pass
                while start < len(events):
                    w = rng.randint(*window)
                    docs.append(mix.verbalize_one(_window_task(user, events[start:start + w]), rng)[1])
                    start += w
    return docs


def prompt_documents(train: TaskSet, mix: VerbalizationMix, share: float, tokenizer, max_length: int,
                     rng: random.Random) -> list[str]:
    """A ``share`` of the training tasks in the reasoner layout, each history in a drawn style,
    followed by the target's answer line."""
    docs = []
    for task in train.tasks():
        if rng.random() >= share:
            continue
        context = mix.verbalize_one(task, rng)[1]
        prompt = (fit_prompt(tokenizer, context, task.candidates, mix.catalog, max_length, with_candidates=False)
                  if tokenizer else build_prompt(context, task.candidates, mix.catalog, with_candidates=False))
        docs.append(prompt + answer_text(mix.catalog.title(task.target_item)))
    return docs


def corpus_history(train: TaskSet, cfg: WarmStartConfig) -> tuple[list[str], tuple]:
    """The history documents and the seeded generator's state after them (they do not depend on
    the tokenizer, so the tokenizer's corpus and the training corpus share them)."""
    rng = random.Random(cfg.seed)
    docs = history_documents(train, Catalog(train.catalog), cfg.history_passes, cfg.window, cfg.subset_p, rng)
    return docs, rng.getstate()


def corpus(train: TaskSet, cfg: WarmStartConfig, tokenizer=None, history: tuple | None = None) -> list[str]:
    """The warm start's texts, shuffled; the same seed gives the same list (``history``: a
    ``corpus_history`` result to reuse)."""
    docs, state = history or corpus_history(train, cfg)
    rng = random.Random()
    rng.setstate(state)
    mix = VerbalizationMix(Catalog(train.catalog), cfg.mix, cfg.subset_p)
    texts = docs + prompt_documents(train, mix, cfg.prompt_share, tokenizer, cfg.max_length, rng)
    rng.shuffle(texts)
    return texts


def lm_dataset(texts: list[str], tokenizer):
    """TRL's language-modeling preparation (EOS appended, tokenized, labels = input_ids) in one
    batched tokenizer call: ``SFTTrainer`` skips its per-example maps for a dataset that has
    ``input_ids`` and ``labels`` (15 s -> 3 s for the ml-100k corpus, docs/reasoner.md)."""
    from datasets import Dataset

    eos = tokenizer.eos_token
    ids = tokenizer([t if t.endswith(eos) else t + eos for t in texts])["input_ids"]
    return Dataset.from_dict({"input_ids": ids, "labels": ids})


def warm_start(cfg: WarmStartConfig, resume: bool = False) -> Path:
    """Build (or resume) the model in ``cfg.out`` and train it on the dense corpus."""
    import torch
    from trl import SFTConfig

    from ..models import build_and_save, load_causal_lm
    from ..tasks import load_tasks

    tasks = load_tasks(cfg.tasks)
    train = tasks.split("train")
    if cfg.max_tasks:
        train = train.head(cfg.max_tasks)
    train = without_engagements(train, cfg.skip_engagements)
    if len(train) == 0:
        raise InputError("no training tasks", file=cfg.tasks, fix="build tasks with a train split")
    out, ckpt = Path(cfg.out), Path(cfg.out) / "checkpoints"
    history = corpus_history(train, cfg)
    if not (out / "config.json").exists():
        # the tokenizer learns from the corpus itself (built without truncation for this purpose)
        catalog = Catalog(train.catalog)
        titles = [catalog.title(i) for i in catalog.rows] if cfg.item_tokens else []
        distributed.on_main(lambda: build_and_save(corpus(train, cfg, history=history), out, cfg.size, vocab_size=cfg.vocab_size or None,
                                                   seed=cfg.seed, phrases=titles))  # one builder; the others load it
    elif not resume and not ckpt.exists():
        raise InputError("model directory exists", file=out, fix="pass --resume to continue it, or a new --out")
    model, tokenizer = load_causal_lm(out, padding_side="right")
    model.train()
    texts = corpus(train, cfg, tokenizer, history)
    args = SFTConfig(output_dir=str(ckpt), max_length=cfg.max_length, per_device_train_batch_size=cfg.batch_size,
                     num_train_epochs=cfg.epochs, max_steps=cfg.max_steps, learning_rate=cfg.learning_rate,
                     lr_scheduler_type="cosine", warmup_steps=0.05, weight_decay=cfg.weight_decay, logging_steps=10,
                     save_steps=cfg.save_steps, save_total_limit=2, seed=cfg.seed, data_seed=cfg.seed,
                     use_cpu=not torch.cuda.is_available(), bf16=False, report_to=cfg.report_to,
                     packing=True, packing_strategy="wrapped",
                     disable_tqdm=False, activation_checkpointing=False)  # TRL defaults it on: a re-forward per step
    trainer = sft_trainer_class()(model=model, args=args, train_dataset=lm_dataset(texts, tokenizer),
                         processing_class=tokenizer)
    t0 = time.perf_counter()
    has_ckpt = resume and ckpt.exists() and any(ckpt.glob("checkpoint-*"))
    start = max(int(p.name.split("-")[-1]) for p in ckpt.glob("checkpoint-*")) if has_ckpt else 0  # as TRL picks
    result = trainer.train(resume_from_checkpoint=True if has_ckpt else None)
    trainer.save_model(str(out))
    distributed.on_main(tokenizer.save_pretrained, str(out))
    save_provenance(out, cfg, tasks.meta.get("data_hash", "unknown"), {
        "stage": "warmstart", "examples": len(texts),
        **run_summary(result.training_loss, trainer.state, start, time.perf_counter() - t0),
        "log_history": trainer.state.log_history})
    return out
