"""The paper's two GRPO stages (section 4.3-4.4) as thin layers over TRL's ``GRPOTrainer``.

* Stage 1 -- ``stage1.train_verbalizer(Stage1Config)``: the Verbalizer samples G verbalizations per
  training history (eq. 3), a frozen oracle Reasoner scores each (eq. 4), plus a length plateau
  (eq. 6); TRL does the group-normalised advantages and the clipped objective with KL (eq. 5).
* Stage 2 -- ``stage2.train_reasoner(Stage2Config)``: a frozen Verbalizer writes each training
  history once; the Reasoner samples G answers, +1/-1 (eq. 7), same objective (eq. 8).
* Before Stage 1, optionally: ``sft_verbalizer.sft_verbalizer`` (our warm start of the Verbalizer).

This module holds what both stages share: the run directory, the training-split guard, and the
run itself (trainer, checkpoints, resume, merged save, provenance).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from ..errors import InputError
from ..models.saved import RUN_FILE
from ..models.threads import cpu_threads
from ..tasks.schema import TaskSet
from . import distributed
from .grpo_config import GRPOCommon, lora_config, trl_args
from .provenance import run_summary, save_provenance

CHECKPOINTS = "checkpoints"


def prepare_out(out: str | Path, resume: bool) -> Path:
    """The run directory; an existing non-empty one is only reused when resuming. Under several
    processes each one looks before any writes (the main one's first file would stop the others)."""
    out = Path(out)
    distributed.init()
    if out.exists() and any(out.iterdir()) and not resume:
        raise InputError("run directory exists", file=out, fix="pass --resume to continue it, or a new --out")
    distributed.barrier()
    out.mkdir(parents=True, exist_ok=True)
    return out


def training_tasks(path: str, max_tasks: int = 0) -> tuple[TaskSet, TaskSet]:
    """(all tasks, their train split): GRPO never sees a valid/test task, neither prompt nor target."""
    from ..tasks import load_tasks

    tasks = load_tasks(path)
    train = tasks.split("train")
    train = train.head(max_tasks) if max_tasks else train
    if len(train) == 0:
        raise InputError("no training tasks", file=path, fix="build tasks with a train split")
    return tasks, train


def last_checkpoint(ckpt_dir: Path) -> Path | None:
    done = [p for p in ckpt_dir.glob("checkpoint-*") if (p / "trainer_state.json").exists()]
    return max(done, key=lambda p: int(p.name.split("-")[-1]), default=None)


def finished(checkpoint: Path | None) -> bool:
    """The checkpoint is the run's last step (HF's Trainer, resumed there, still takes one more)."""
    if checkpoint is None:
        return False
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    return 0 < state.get("max_steps", 0) <= state.get("global_step", 0)


def run_grpo(cfg: GRPOCommon, *, stage: str, model, tokenizer, reward_funcs: list, reward_weights: list[float],
             dataset, data_hash: str, resume: bool, extra: dict | None = None, callbacks: list | None = None,
             rollout_func=None, decision_tokens: list[int] | None = None) -> Path:
    """Train ``model`` with TRL GRPO on ``dataset``; save the policy (LoRA merged), its tokenizer
    and ``verbalrec_run.json`` in ``cfg.out``. ``resume`` continues the last complete checkpoint.
    ``callbacks``: extra ``transformers.TrainerCallback``s (e.g. LangPTune's contrastive update).
    ``rollout_func``: TRL's custom generation (e.g. ``rollout.CandidateRollout``); ``decision_tokens``:
    the constrained action kind's tokens (``decision_rollout.constrained_trainer`` scores them)."""
    from trl import GRPOTrainer

    if decision_tokens:
        from .decision_rollout import constrained_trainer
        GRPOTrainer = constrained_trainer(decision_tokens)  # noqa: N806

    out = Path(cfg.out)
    ckpt_dir = out / CHECKPOINTS
    start = last_checkpoint(ckpt_dir) if resume else None
    if finished(start) and (out / RUN_FILE).exists():
        return out  # a finished run resumed: nothing left to train, its model is saved
    trainer = GRPOTrainer(model=model, reward_funcs=reward_funcs, args=trl_args(cfg, ckpt_dir, reward_weights),
                          train_dataset=dataset, processing_class=tokenizer, peft_config=lora_config(cfg),
                          callbacks=callbacks, **({"rollout_func": rollout_func} if rollout_func else {}))
    t0 = time.perf_counter()
    with cpu_threads(cfg.cpu_threads):
        result = trainer.train(resume_from_checkpoint=str(start) if start else None)
    wall = time.perf_counter() - t0
    start_step = int(start.name.split("-")[-1]) if start else 0
    save_policy(trainer, tokenizer, out, merge=cfg.lora_r > 0, base=cfg.policy)
    save_provenance(out, cfg, data_hash, {
        "stage": stage, "examples": len(dataset), **run_summary(result.training_loss, trainer.state, start_step, wall),
        "log_history": trainer.state.log_history, **(extra or {})})
    return out


def save_policy(trainer, tokenizer, out: Path, merge: bool, base: str | None = None) -> None:
    """Full weights in ``out`` (loadable by ``load_causal_lm``); a LoRA run also keeps ``out/adapter``.

    Every process calls ``trainer.save_model``: under DeepSpeed ZeRO-3 or FSDP it gathers the
    sharded weights, and only the main process writes. A LoRA adapter is then merged from disk
    into a fresh copy of ``base`` (the sharded in-memory model cannot be merged)."""
    if merge:
        adapter = out / "adapter"
        distributed.on_main(shutil.rmtree, adapter, ignore_errors=True)
        trainer.save_model(str(adapter))
        distributed.on_main(merge_adapter, base, adapter, out)
    else:
        trainer.save_model(str(out))
    distributed.on_main(tokenizer.save_pretrained, str(out))


def merge_adapter(base: str, adapter: Path, out: Path) -> None:
    """``base`` with the LoRA ``adapter`` merged in, saved as plain weights in ``out``."""
    from ..models import load_causal_lm

    model, _ = load_causal_lm(base, adapter=adapter)
    model.merge_and_unload().save_pretrained(str(out))


def policy_model(path: str):
    """(model, tokenizer) of a policy directory, prompts left-padded as generation needs."""
    from ..models import load_causal_lm

    model, tokenizer = load_causal_lm(path, padding_side="left")
    return model.train(), tokenizer
