r"""Stage 1 rollouts of the constrained action verbalizer: TRL's ``rollout_func`` on CPU/transformers.

Each completion is the task's policy lines with one sampled decision token after each
(``verbalize.decisions``): well-formed by construction. The forced line tokens go to TRL with
``env_mask`` 0, so only the decision tokens carry loss, KL and the importance ratio; the executed
actions go to the rewards as the extra column ``actions``.

The policy gradient is the constrained one, exactly: ``constrained_trainer`` (the GRPOTrainer
``run_grpo`` uses for these rollouts) restricts the logits to the decision tokens at every
completion position whose token is a decision token -- exactly the decision positions (forced
positions carry no loss, so a decision-token id inside a title changes nothing that is trained). TRL's recomputed log-probabilities, importance
ratio, entropy and KL are then those of :math:`\pi_c`. Without it, TRL's unconstrained
:math:`\nabla\log\pi(d)` spent the updates raising the policy's mass on the decision tokens
(``decisions/allowed_mass`` 0.08 -> 0.87 in 30 toy steps) instead of learning which to choose (reward
0.64 -> 0.67). ``logprobs`` handed to TRL are the constrained ones (vLLM's importance-sampling
correction uses them). On GPU, vLLM's structured outputs (a regex over the interleaved lines) sample
the same way.
"""

from __future__ import annotations

import numpy as np

from ..tasks.schema import Task
from ..verbalize.decisions import DecisionLayout, sample_decisions
from .rollout import CandidateRollout


def constrained_trainer(token_ids):
    """A ``trl.GRPOTrainer`` subclass whose recomputed log-probabilities are the constrained policy's:
    at every completion position whose token is a decision token, the logits outside ``token_ids``
    are masked before the softmax (the same restriction ``sample_decisions`` samples under). It
    materialises the logits (TRL's fused LM head cannot mask), chunked by TRL's batch size."""
    import torch
    from trl import GRPOTrainer

    class ConstrainedGRPOTrainer(GRPOTrainer):
        decision_token_ids = list(token_ids)

        def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                               batch_size=None, compute_entropy=False, compute_aux_loss=False,
                                               **extra):
            if compute_aux_loss or any(v is not None for v in extra.values()):
                raise ValueError("decision rollouts support text-only, non-MoE policies")
            allowed = torch.tensor(self.decision_token_ids, device=input_ids.device)
            size = batch_size or input_ids.size(0)
            logps, entropies = [], []
            for start in range(0, input_ids.size(0), size):
                ids, mask = input_ids[start:start + size], attention_mask[start:start + size]
                with self.accelerator.autocast():
                    logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=logits_to_keep + 1).logits
                logits = logits[:, :-1].float() / self.temperature
                targets = ids[:, -logits_to_keep:]
                outside = torch.ones(logits.shape[-1], dtype=torch.bool, device=logits.device)
                outside[allowed] = False
                at_decision = torch.isin(targets, allowed)[..., None]
                logp = torch.log_softmax(logits.masked_fill(at_decision & outside, -1e9), dim=-1)
                logps.append(logp.gather(-1, targets[..., None]).squeeze(-1))
                if compute_entropy:
                    entropies.append(-(logp.exp() * logp).sum(-1))
            return torch.cat(logps), (torch.cat(entropies) if compute_entropy else None), None

    return ConstrainedGRPOTrainer


class DecisionRollout:
    """``rollout_func(prompts, trainer)``: ``tasks[prompt]`` is the task whose prompt it is
    (``DecisionLayout.prompt`` holds the task id, so prompts are unique)."""

    def __init__(self, layout: DecisionLayout, tasks: list[Task], temperature: float = 1.0, seed: int = 0):
        self.layout, self.temperature, self.seed = layout, temperature, seed
        self.tasks = {layout.prompt(t): t for t in tasks}
        self._segments: dict[str, object] = {}
        self._step, self._calls = None, 0

    #: draws are a function of (seed, optimizer step, call within it, process), as for Stage 2
    generator = CandidateRollout.generator

    def segments(self, prompt: str):
        if prompt not in self._segments:
            self._segments[prompt] = self.layout.segments(self.tasks[prompt])
        return self._segments[prompt]

    def __call__(self, prompts: list[str], trainer) -> dict:
        rng = self.generator(trainer)
        model = trainer.accelerator.unwrap_model(trainer.model)
        eos = getattr(trainer.processing_class, "eos_token_id", None)
        was_training = model.training
        model.eval()
        out = {"prompt_ids": [], "completion_ids": [], "logprobs": [], "env_mask": [], "actions": []}
        masses = []
        try:
            for prompt, n in _runs(prompts):  # TRL repeats each prompt G times in a row: one walk for all G
                seg = self.segments(prompt)
                choices, logps, mass = sample_decisions(model, self.layout, seg, n, self.temperature, rng)
                masses.append(mass.mean() if mass.size else 1.0)
                for c, lp in zip(choices, logps):
                    ids, mask = self.layout.completion(seg, c, eos)
                    token_lp = np.zeros(len(ids))
                    token_lp[np.flatnonzero(mask)] = lp
                    out["prompt_ids"].append(list(seg.header))
                    out["completion_ids"].append(ids)
                    out["env_mask"].append(mask)
                    out["logprobs"].append(token_lp.tolist())
                    out["actions"].append(self.layout.actions(seg, c))
        finally:
            model.train(was_training)
        metrics = getattr(trainer, "_metrics", None)
        if metrics is not None:
            metrics["train"]["decisions/allowed_mass"].append(float(np.mean(masses)))
        return out


def _runs(prompts: list[str]) -> list[tuple[str, int]]:
    """Consecutive equal prompts as (prompt, count), in order."""
    runs: list[tuple[str, int]] = []
    for p in prompts:
        if runs and runs[-1][0] == p:
            runs[-1] = (p, runs[-1][1] + 1)
        else:
            runs.append((p, 1))
    return runs
