"""Stage 1 rewards: the frozen oracle's verdict on a verbalization, and its length."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..compression import PLATEAU_HIGH, PLATEAU_LOW, char_ratios, plateau
from ..metrics import per_task_metrics
from ..reason.base import Reasoner
from ..tasks.schema import Task


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

    def _scores(self, completions, candidates, label, columns):
        return self.oracle.score(oracle_tasks(candidates, label), self.postprocess(completions, columns))

    def _per_task(self, completions, candidates, label, columns) -> dict[str, np.ndarray]:
        scores = self._scores(completions, candidates, label, columns)
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


class ProbabilityReward(_OracleReward):
    """A dense r_acc: the oracle's probability of the target among the candidates,
    :math:`p = e^{s_y} / \\sum_j e^{s_j}` over its candidate scores :math:`s` (for the likelihood
    Reasoner, :math:`P(\\text{target} \\mid \\text{history, one of the candidates})`); 0 for no answer.
    Its expectation ranks verbalizations as accuracy does when the oracle is calibrated, but two
    texts that both make the oracle right (or wrong) still differ, so a GRPO group rarely has zero
    reward spread (docs/stage1.md: with 0/1 accuracy, 40 of 40 ml-100k steps had none)."""

    __name__ = "probability"

    def __call__(self, prompts, completions, candidates, label, **columns) -> list[float]:
        scores = self._scores(completions, candidates, label, columns)
        return target_probability(scores.values, np.asarray(label), scores.valid).tolist()


def target_probability(values: np.ndarray, label: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``values`` (-inf = padding) at ``label``; 0 where ``valid`` is False."""
    finite = np.where(np.isfinite(values), values, -np.inf)
    top = np.max(finite, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    e = np.exp(finite - top)
    p = e[np.arange(len(label)), label] / np.maximum(e.sum(axis=1), 1e-300)
    return np.where(valid, p, 0.0)


def _ratios(completions, template_chars, postprocess: Postprocess, columns: dict) -> list[float]:
    texts = postprocess(completions, columns)
    return char_ratios([len(x) for x in texts], [int(t) for t in template_chars]).tolist()


class LengthReward:
    """r_len = plateau(compression ratio in characters vs the template)."""

    __name__ = "length"

    def __init__(self, low: float = PLATEAU_LOW, high: float = PLATEAU_HIGH, slope_low: float | None = None,
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


def title_coverage(text: str, titles: Sequence[str]) -> float:
    """Faithfulness: the share of the history's distinct titles that ``text`` names (case-insensitive
    substring match; 1.0 when there is no title to name)."""
    titles = [t for t in dict.fromkeys(titles) if t]
    if not titles:
        return 1.0
    low = text.lower()
    return sum(t.lower() in low for t in titles) / len(titles)


class FaithfulnessReward:
    """r_faith = title_coverage of the verbalization over the row's ``history_titles``. Logged
    with weight 0 by default; ``Gated`` turns it into the gate."""

    __name__ = "faithfulness"

    def __init__(self, postprocess: Postprocess | None = None):
        self.postprocess = postprocess or strip_all

    def __call__(self, prompts, completions, history_titles, **columns) -> list[float]:
        texts = self.postprocess(completions, {**columns, "history_titles": history_titles})
        return [title_coverage(t, h) for t, h in zip(texts, history_titles)]


class Gated:
    """``reward`` times 1[the text names at least one history title]: a verbalization that names
    nothing from the history earns nothing, however the oracle reads it (it keeps ``reward``'s name,
    so TRL logs the gated term where the plain one was)."""

    def __init__(self, reward, faithfulness: FaithfulnessReward):
        self.reward, self.faithfulness, self.__name__ = reward, faithfulness, reward.__name__
        self.oracle = getattr(reward, "oracle", None)  # what AsyncOracleReward drives

    def __call__(self, prompts, completions, **columns) -> list[float]:
        values = self.reward(prompts, completions, **columns)
        cover = self.faithfulness(prompts, completions, **columns)
        return [v * (c > 0) for v, c in zip(values, cover)]
