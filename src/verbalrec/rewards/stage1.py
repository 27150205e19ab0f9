"""Stage 1 rewards: the frozen oracle's verdict on a verbalization, and its length."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..evaluate.metrics import per_task_metrics
from ..reason.base import Reasoner
from ..tasks.schema import Task


def plateau(ratio: float, low: float = 0.3, high: float = 0.7, slope_low: float | None = None,
            slope_high: float | None = None) -> float:
    r"""Length reward (paper Figure 2): 1 for a compression ratio in [low, high], falling off
    linearly outside, clipped at 0.

    .. math:: r^{len}(c) = \begin{cases} \max(0, 1 - s_l (low - c)) & c < low \\ 1 & low \le c \le high \\
              \max(0, 1 - s_h (c - high)) & c > high \end{cases}

    Default slopes reach 0 at c = 0 (:math:`s_l = 1/low`) and at c = 1, no compression
    (:math:`s_h = 1/(1-high)`).
    """
    s_l = slope_low if slope_low is not None else 1.0 / low
    s_h = slope_high if slope_high is not None else 1.0 / (1.0 - high)
    if ratio < low:
        return max(0.0, 1.0 - s_l * (low - ratio))
    if ratio > high:
        return max(0.0, 1.0 - s_h * (ratio - high))
    return 1.0


def oracle_tasks(candidates: Sequence[Sequence[str]], label: Sequence[int]) -> list[Task]:
    """Minimal tasks for an oracle that reads only the context and the candidates."""
    return [Task(task_id=str(i), user_id="", split="train", target_time=0, target_item=c[lab], discovery=True,
                 label=int(lab), candidates=list(c), hist_item=[], hist_time=[])
            for i, (c, lab) in enumerate(zip(candidates, label))]


#: ``postprocess(completions, columns) -> texts``: turns sampled completions into the context the
#: oracle reads (e.g. the action verbalizer executes its actions on the task in ``columns``).
Postprocess = Callable[[Sequence[str], dict], list[str]]


def strip_all(completions: Sequence[str], columns: dict) -> list[str]:
    return [c.strip() for c in completions]


class _OracleReward:
    """Scores all G x B verbalizations of a step in one oracle call (batched, cached by the oracle)."""

    def __init__(self, oracle: Reasoner, postprocess: Postprocess | None = None):
        self.oracle, self.postprocess = oracle, postprocess or strip_all

    def _per_task(self, completions, candidates, label, columns) -> dict[str, np.ndarray]:
        texts = self.postprocess(completions, columns)
        scores = self.oracle.score(oracle_tasks(candidates, label), texts)
        # a target outside an endpoint's top-k log-probs is a ranked miss, not "no answer"
        return per_task_metrics(scores.values, np.asarray(label), scores.valid,
                                n_candidates=[len(c) for c in candidates])


class AccuracyReward(_OracleReward):
    """r_acc = 1 if the oracle's top candidate is the target, else 0 (paper eq. 4); ties count
    as the expected hit (1/k for a k-way tie at the top)."""

    __name__ = "accuracy"

    def __call__(self, prompts, completions, candidates, label, **columns) -> list[float]:
        return self._per_task(completions, candidates, label, columns)["hr@1"].tolist()


class RankingReward(_OracleReward):
    """Ablation (paper Table 2, 'ranking loss'): reciprocal rank (or NDCG@10) of the target."""

    def __init__(self, oracle: Reasoner, metric: str = "mrr", postprocess=None):
        super().__init__(oracle, postprocess)
        self.metric, self.__name__ = metric, f"ranking_{metric}"

    def __call__(self, prompts, completions, candidates, label, **columns) -> list[float]:
        return self._per_task(completions, candidates, label, columns)[self.metric].tolist()


def _ratios(completions, template_chars, postprocess: Postprocess, columns: dict) -> list[float]:
    return [len(x) / max(int(t), 1) for x, t in zip(postprocess(completions, columns), template_chars)]


class LengthReward:
    """r_len = plateau(compression ratio in characters vs the template)."""

    __name__ = "length"

    def __init__(self, low: float = 0.3, high: float = 0.7, slope_low: float | None = None,
                 slope_high: float | None = None, postprocess: Postprocess | None = None):
        self.args = (low, high, slope_low, slope_high)
        self.postprocess = postprocess or strip_all

    def __call__(self, prompts, completions, template_chars, **columns) -> list[float]:
        return [plateau(r, *self.args) for r in _ratios(completions, template_chars, self.postprocess, columns)]


class CompressionRatio:
    """Not a reward: give it weight 0 so TRL logs the mean compression ratio per step."""

    __name__ = "compression_ratio"

    def __init__(self, postprocess: Postprocess | None = None):
        self.postprocess = postprocess or strip_all

    def __call__(self, prompts, completions, template_chars, **columns) -> list[float]:
        return _ratios(completions, template_chars, self.postprocess, columns)
