"""Benchmark: seconds per warm-start step, plain torch loop vs TRL's SFTTrainer (fused LM head) vs
``train.sft_trainer.sft_trainer_class()`` (the model's own loss on CPU), same model, same batches.

    python bench/sft_step.py --tasks DIR [--steps 20] [--max-length 640] [--batch 8]

DIR is a task folder (e.g. ``runs/bench-reasoner/tasks-paper-h20``); the model is built from its
warm-start corpus in a temporary folder. Prints one line per variant; run on a quiet core."""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", required=True)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--max-length", type=int, default=640)
    ap.add_argument("--batch", type=int, default=8)
    a = ap.parse_args()
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from verbalrec.logs.catalog import Catalog
    from verbalrec.models import build_and_save, load_causal_lm
    from verbalrec.tasks import load_tasks
    from verbalrec.train.sft_trainer import sft_trainer_class
    from verbalrec.train.warmstart import WarmStartConfig, corpus

    torch.set_num_threads(1)
    train = load_tasks(a.tasks).split("train")
    cfg = WarmStartConfig(tasks=a.tasks, out="unused", max_length=a.max_length)
    catalog = Catalog(train.catalog)
    work = os.path.join(tempfile.mkdtemp(), "model")  # build_and_save refuses an existing folder
    build_and_save(corpus(train, cfg), work, cfg.size, vocab_size=cfg.vocab_size, seed=0,
                   phrases=[catalog.title(i) for i in catalog.rows])
    model, tok = load_causal_lm(work, padding_side="right")
    texts = corpus(train, cfg, tok)

    flat = [t for ids in tok(texts[:4000])["input_ids"] for t in ids + [tok.eos_token_id]]
    x = torch.tensor(flat[: a.steps * a.batch * a.max_length]).view(a.steps, a.batch, a.max_length)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=6e-3, weight_decay=0.01)
    t0 = time.perf_counter()
    for batch in x:
        model(input_ids=batch, labels=batch).loss.backward()
        opt.step()
        opt.zero_grad()
    print(f"plain torch loop       {(time.perf_counter() - t0) / a.steps:.3f} s/step")

    for name, cls in (("TRL SFTTrainer (fused)", SFTTrainer), ("sft_trainer_class()", sft_trainer_class())):
        model, tok = load_causal_lm(work, padding_side="right")
        args = SFTConfig(output_dir=os.path.join(work, "ck"), max_length=a.max_length, per_device_train_batch_size=a.batch,
                         max_steps=a.steps, learning_rate=6e-3, save_strategy="no", use_cpu=True, bf16=False,
                         report_to="none", dataset_text_field="text", packing=True, packing_strategy="wrapped",
                         disable_tqdm=True, activation_checkpointing=False)
        trainer = cls(model=model, args=args, train_dataset=Dataset.from_dict({"text": texts[:4000]}), processing_class=tok)
        t0 = time.perf_counter()
        trainer.train()
        print(f"{name:<22} {(time.perf_counter() - t0) / a.steps:.3f} s/step")


if __name__ == "__main__":
    main()
