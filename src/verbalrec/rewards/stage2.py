"""Stage 2 reward (paper eq. 7): +1 when the Reasoner's answer names the target, else -1."""

from __future__ import annotations

from ..reason.lm import extract_answer


class ReasonerReward:
    __name__ = "reasoner_correct"

    def __call__(self, prompts, completions, candidate_titles, label, **_) -> list[float]:
        return [1.0 if extract_answer(c, titles) == int(lab) else -1.0
                for c, titles, lab in zip(completions, candidate_titles, label)]
