r"""Ranking metrics for reranking tasks, from the rank of the target among the candidates.

Ties are broken uniformly at random *in expectation*: if ``g`` candidates score strictly higher
than the target and ``e`` others tie with it, the target's rank ``r`` is uniform on
``{g+1, ..., g+e+1}`` and every metric below is its exact expectation over that draw. So a
ranker that scores all N candidates equally gets HR@1 = 1/N, never a lucky 1 or unlucky 0.
Tasks whose answer is invalid score 0 on every metric (rank = infinity).

*No answer* and *a miss* differ. A reasoner that returns scores for its top k only (an endpoint's
top log-probs) leaves the other candidates at -inf: with ``n_candidates`` given, those unscored
candidates tie below every scored one, so a target outside the top k is a valid answer ranked
uniformly on ``{k+1, ..., N}`` (HR@N = 1, MRR and NDCG > 0). Columns at or beyond a task's
``n_candidates`` are padding and never count. Without ``n_candidates`` every -inf column is taken
for padding (or a masked item), and a target scored -inf is an unranked miss: 0 on every rank
metric, still valid.

Per task (averaged over tasks):

* HR@k (hit rate) :math:`= \mathbb{1}[r \le k]`; with one relevant item Recall@k = HR@k.
* Recall@1 :math:`= \mathbb{1}[r = 1]`: the paper's metric; *for Discovery* it is averaged over
  tasks whose target the user had never engaged with before (``discovery``), *non-Discovery*
  over the others.
* NDCG@k :math:`= \mathbb{1}[r \le k] / \log_2(r + 1)` (the ideal DCG is 1: one relevant item).
* MRR :math:`= 1 / r`.
* ValidRatio :math:`= \frac{1}{n}\sum_i \mathbb{1}[\text{answer } i \text{ names exactly one candidate}]`.
"""

from __future__ import annotations

import numpy as np


def target_rank_bounds(scores: np.ndarray, labels: np.ndarray, n_candidates=None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(g, e, ranked): candidates scoring above the target, others tying with it, and whether
    the target has a rank at all, per task (NaN scores count as -inf)."""
    s = np.where(np.isnan(scores), -np.inf, scores)
    columns = np.arange(s.shape[1])[None, :]
    if n_candidates is None:
        real = s > -np.inf
    else:
        real = columns < np.asarray(n_candidates, dtype=int)[:, None]
    rows = np.arange(len(labels))
    target = s[rows, labels][:, None]
    ranked = real[rows, labels]
    greater = ((s > target) & real).sum(axis=1)
    ties = ((s == target) & real).sum(axis=1) - ranked
    return greater, ties, ranked


def _expected(fn, greater: np.ndarray, ties: np.ndarray, scored: np.ndarray) -> np.ndarray:
    """E[fn(r)] for r uniform on {g+1..g+e+1}; 0 where not scored."""
    out = np.zeros(len(greater))
    for i in np.flatnonzero(scored):
        ranks = np.arange(greater[i] + 1, greater[i] + ties[i] + 2)
        out[i] = fn(ranks).mean()
    return out


def per_task_metrics(scores: np.ndarray, labels: np.ndarray, valid: np.ndarray,
                     ks: tuple[int, ...] = (1, 5, 10), n_candidates=None) -> dict[str, np.ndarray]:
    """Every metric per task (arrays of length n), so means and paired bootstraps share them.
    ``n_candidates``: each task's candidate count (columns beyond it are padding)."""
    labels = np.asarray(labels, dtype=int)
    valid = np.asarray(valid, dtype=bool)
    greater, ties, ranked = target_rank_bounds(np.asarray(scores, dtype=float), labels, n_candidates)
    scored = valid & ranked
    out = {"valid": valid.astype(float), "mrr": _expected(lambda r: 1.0 / r, greater, ties, scored)}
    for k in ks:
        out[f"hr@{k}"] = _expected(lambda r, k=k: (r <= k).astype(float), greater, ties, scored)
        out[f"ndcg@{k}"] = _expected(lambda r, k=k: (r <= k) / np.log2(r + 1), greater, ties, scored)
    return out


def summarize(per_task: dict[str, np.ndarray], discovery: np.ndarray) -> dict[str, float]:
    """Means: recall@1 overall, for Discovery and non-Discovery targets, and every other metric."""
    discovery = np.asarray(discovery, dtype=bool)
    hit1 = per_task["hr@1"]
    mean = lambda x: float(x.mean()) if len(x) else float("nan")  # noqa: E731
    out = {"n": len(hit1), "n_discovery": int(discovery.sum()),
           "recall@1_discovery": mean(hit1[discovery]), "recall@1": mean(hit1),
           "recall@1_non_discovery": mean(hit1[~discovery]), "valid_ratio": mean(per_task["valid"])}
    out.update({k: mean(v) for k, v in per_task.items() if k not in ("valid",)})
    return out
