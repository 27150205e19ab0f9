"""TRL's ``SFTTrainer``, with the plain causal-LM loss where TRL's fused LM head only costs time."""

from __future__ import annotations


def sft_trainer_class():
    """``SFTTrainer`` on a GPU; on CPU a subclass whose loss is the model's own cross-entropy over
    the full logits.

    TRL computes the loss through its fused, tiled LM head (``add_fused_lm_head``), which saves GPU
    memory on large vocabularies. For an in-project model on CPU the logits are small (5k tokens x
    2.6k vocabulary = 54 MB) and the tiles cost time: measured on 2 cores, 1 thread, tiny model,
    8 x 640 tokens, forward + backward took 1.29 s fused and 0.50 s plain (a whole TRL step 1.25 s
    against 0.45 s for a plain torch loop). Only the loss call differs (labels of -100 are ignored
    by both); packing, completion masks, schedule, checkpoints and resume stay TRL's and
    transformers'. TRL's entropy and token-accuracy metrics are not logged on this path."""
    import torch
    from transformers import Trainer
    from trl import SFTTrainer

    if torch.cuda.is_available():
        return SFTTrainer

    class PlainLossSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            return Trainer.compute_loss(self, model, {**inputs, "use_cache": False}, return_outputs, num_items_in_batch)

    return PlainLossSFTTrainer
