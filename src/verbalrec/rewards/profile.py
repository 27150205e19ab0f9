r"""LangPTune's reward for a language profile: how well the embedding reasoner, reading only the
profile, ranks the user's next item.

Per completion (a sampled profile) of task ``t``:

.. math:: r = \begin{cases} 0 & \text{the profile hit the length cap} \\
          \mathrm{NDCG}(rank) = 1/\log_2(rank + 1) \text{ or } \mathrm{MRR} = 1/rank & \text{otherwise} \end{cases}

where ``rank`` is the target's rank under the embedding reasoner in ``scope`` -- ``catalog``
(default, LangPTune): every catalog item, the task's history items masked (never ranked);
``candidates``: the task's N candidates. NDCG is untruncated, so a target at rank 300 still gives
a (small) signal. Ties count as the expected rank (``verbalrec.metrics``). A degenerate profile
(``verbalize.llm.is_degenerate``) is scored as an empty profile.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..tasks.schema import Task
from ..verbalize.llm import is_degenerate
from ..verbalize.profile import hit_cap

METRICS = ("ndcg", "mrr")


def _completion_text(c) -> str:
    return c if isinstance(c, str) else "".join(m.get("content") or "" for m in c)


class ProfileRankingReward:
    """TRL reward callable: ``(prompts, completions, task_id, completion_ids, **columns) -> rewards``.

    ``tasks`` maps ``task_id`` to its Task; ``cap`` is the completion budget in tokens and
    ``eos_ids`` the ids that end a completion (a capped completion has ``cap`` ids and no EOS).
    The last batch is kept in ``last`` (profiles, tasks, rewards) for the contrastive update."""

    def __init__(self, reasoner, tasks: Sequence[Task] | dict, metric: str = "ndcg", scope: str = "catalog",
                 cap: int | None = None, eos_ids: Sequence[int] = ()):
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}")
        self.reasoner, self.metric, self.scope, self.cap = reasoner, metric, scope, cap
        self.tasks = tasks if isinstance(tasks, dict) else {t.task_id: t for t in tasks}
        self.eos_ids = set(int(i) for i in eos_ids)
        self.__name__ = f"profile_{metric}"
        self.last: tuple[list[str], list[Task], list[float]] = ([], [], [])

    def capped(self, completion_ids) -> list[bool]:
        if completion_ids is None or self.cap is None:
            return [False] * 0
        return [hit_cap(len(ids), self.cap, bool(len(ids)) and int(ids[-1]) in self.eos_ids) for ids in completion_ids]

    def __call__(self, prompts, completions, task_id, completion_ids=None, **columns) -> list[float]:
        texts = [_completion_text(c).strip() for c in completions]
        texts = ["" if is_degenerate(t) else t for t in texts]
        tasks = [self.tasks[i] for i in task_id]
        rewards = self.reasoner.metrics(tasks, texts, self.scope)[self.metric].astype(float)
        capped = self.capped(completion_ids) or [False] * len(texts)
        rewards[np.array(capped, bool)] = 0.0
        if "log_metric" in columns:
            columns["log_metric"]("profile/capped_rate", float(np.mean(capped)))
            columns["log_metric"]("profile/chars", float(np.mean([len(t) for t in texts])))
        self.last = (texts, tasks, rewards.tolist())
        return rewards.tolist()
