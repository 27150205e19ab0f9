r"""Stage 2 rollouts inside the candidate set: TRL's ``rollout_func`` on CPU/transformers.

Free-text sampling let a small Reasoner write anything (10-13 % of sampled answers were right,
the rest were wrong or not an answer at all), so the ±1 reward mostly punished format. Here a
completion can only be one of the task's N candidate answers (``prompt.answer_text``): the
policy's likelihood of each answer at TRL's temperature,
:math:`\log\pi(a_j)=\sum_t \log\mathrm{softmax}(z_t/T)[a_{j,t}]`, is computed with one shared
prompt pass (``reason.lm.answer_token_logprobs``) and G answers are drawn from the constrained
policy :math:`\pi_c(a_j)=\pi(a_j)/Z`, :math:`Z=\sum_k \pi(a_k)`.

Why TRL's loss stays right: TRL recomputes :math:`\log\pi_\theta(a)` of the sampled tokens
itself, without the constraint. The constrained gradient is
:math:`\nabla\log\pi_c(a_i)=\nabla\log\pi(a_i)-\nabla\log Z`, and :math:`\nabla\log Z` is the
same for every sample of a prompt, so it drops out of :math:`\sum_i A_i\nabla\log\pi_c(a_i)`
whenever a group's advantages sum to 0 -- true for GRPO's group-mean baseline when every answer
has the same token count (title tokens: ' ', title, newline) or the loss sums tokens per sequence
(``loss_type='grpo'`` normalises per sequence). The importance ratio
:math:`\pi_\theta/\pi_{old}` is likewise unchanged by :math:`Z` at the sampling step (both are the
same policy). ``tests/train/test_rollout.py`` checks the gradient identity numerically.

``logprobs`` returned to TRL are the per-token log-probabilities under the constrained policy
(:math:`\log Z` taken off the first token), so their sum is :math:`\log\pi_c(a)`.
On GPU, vLLM's structured outputs (``guided choice`` over the answers) do the same job.
"""

from __future__ import annotations

import numpy as np


class CandidateRollout:
    """``rollout_func(prompts, trainer)``: each prompt gets one completion drawn among its candidate
    answers. ``answers[prompt]`` lists them (the dataset's rows give them)."""

    def __init__(self, answers: dict[str, list[str]], tokenizer, temperature: float = 1.0, seed: int = 0):
        self.answers, self.tokenizer, self.temperature, self.seed = answers, tokenizer, temperature, seed
        self._step, self._calls = None, 0  # calls in the current optimizer step
        self._answer_ids = {a: tokenizer(a, add_special_tokens=False)["input_ids"]
                            for options in answers.values() for a in options}

    def distribution(self, model, prompt: str) -> tuple[np.ndarray, list[np.ndarray]]:
        """(constrained probabilities of the prompt's answers, each answer's per-token log-probs)."""
        import torch

        from ..reason.lm import answer_token_logprobs
        with torch.no_grad():
            per_token = answer_token_logprobs(model, self.tokenizer, prompt, self.answers[prompt], self.temperature)
        logp = np.array([r.sum() for r in per_token], dtype=np.float64)
        probs = np.exp(logp - logp.max())
        return probs / probs.sum(), per_token

    def generator(self, trainer) -> np.random.Generator:
        """Draws are a function of (seed, optimizer step, call within it, process): a resumed run
        draws what the killed one would have drawn, and two processes never draw the same sequence."""
        state = getattr(trainer, "state", None)
        step = state.global_step if state is not None else -1
        self._calls = self._calls + 1 if step == self._step else 0
        self._step = step
        rank = getattr(trainer.accelerator, "process_index", 0)
        return np.random.default_rng([self.seed, step + 1, self._calls, rank])

    def __call__(self, prompts: list[str], trainer) -> dict:
        rng = self.generator(trainer)
        model = trainer.accelerator.unwrap_model(trainer.model)
        was_training = model.training
        model.eval()
        out = {"prompt_ids": [], "completion_ids": [], "logprobs": [], "answer_index": []}
        cache: dict[str, tuple] = {}  # a prompt appears G times in a batch: one pass for all of them
        try:
            for prompt in prompts:
                if prompt not in cache:
                    cache[prompt] = self.distribution(model, prompt)
                probs, per_token = cache[prompt]
                j = int(rng.choice(len(probs), p=probs))
                out["prompt_ids"].append(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
                out["completion_ids"].append(list(self._answer_ids[self.answers[prompt][j]]))
                out["logprobs"].append(constrained_token_logprobs(per_token[j], probs[j]))
                out["answer_index"].append(j)
        finally:
            model.train(was_training)
        return out


def constrained_token_logprobs(per_token: np.ndarray, prob: float) -> list[float]:
    """Per-token log-probs whose sum is log pi_c(a) = log prob: the unconstrained tokens, with the
    constraint's log Z taken off the first (log pi_c = log pi - log Z)."""
    log_z = float(per_token.sum()) - float(np.log(prob))
    values = per_token.astype(float).tolist()
    values[0] -= log_z
    return values
