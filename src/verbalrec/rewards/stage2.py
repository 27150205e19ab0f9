"""Stage 2 reward (paper eq. 7): +1 when the Reasoner's answer names the target, else -1."""

from __future__ import annotations

import re

from ..reason.prompt import extract_answer

MATCHES = ("label", "title")
_LABEL_PREFIX = re.compile(r"^[\s(\[]*([A-Za-z]|\d+)[.):\]]\s*")


def named_by_title(text: str, titles) -> int | None:
    """The one candidate whose title the answer names (its label prefix, if any, ignored)."""
    low = _LABEL_PREFIX.sub("", text.strip(), count=1).lower()
    named = [j for j, t in enumerate(titles) if t and t.lower() in low]
    return named[0] if len(named) == 1 else None


class ReasonerReward:
    """``match="label"``: the answer's letter decides (the paper's Reasoner answers with a
    candidate). ``match="title"``: the title it names decides, the letter only when it names no
    single title -- for small models that know the items but never learned the letter mapping,
    whose letters are random: rewarding letters then rewards wrong titles half the time."""

    __name__ = "reasoner_correct"

    def __init__(self, match: str = "label"):
        if match not in MATCHES:
            raise ValueError(f"match must be one of {MATCHES}")
        self.match = match

    def _answer(self, text: str, titles) -> int | None:
        if self.match == "title":
            by_title = named_by_title(text, titles)
            if by_title is not None:
                return by_title
        return extract_answer(text, titles)

    def __call__(self, prompts, completions, candidate_titles, label, answer_index=None, **_) -> list[float]:
        """``answer_index``: the candidate a constrained rollout drew (``train.rollout``); it decides
        when given, as the answer cannot name anything else."""
        if answer_index is not None:
            return [1.0 if int(j) == int(lab) else -1.0 for j, lab in zip(answer_index, label)]
        return [1.0 if self._answer(c, titles) == int(lab) else -1.0
                for c, titles, lab in zip(completions, candidate_titles, label)]
