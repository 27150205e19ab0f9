"""The eval loop: tasks x verbalizer x reasoner -> per-task metrics and a summary."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from ..reason.base import Reasoner, Scores
from ..tasks.schema import TaskSet
from .bootstrap import mean_ci, relative_delta
from .metrics import per_task_metrics, summarize


@dataclass
class EvalResult:
    system: str
    task_ids: list[str]
    discovery: np.ndarray
    per_task: dict[str, np.ndarray]
    summary: dict[str, float]
    context_chars: np.ndarray | None = None  # length of each verbalized context (None: no text read)

    def ci(self, metric: str = "hr@1", discovery_only: bool = True, seed: int = 0) -> tuple[float, float, float]:
        x = self.per_task[metric]
        return mean_ci(x[self.discovery] if discovery_only else x, seed=seed)

    def delta_over(self, baseline: "EvalResult", metric: str = "hr@1", discovery_only: bool = True,
                   seed: int = 0) -> tuple[float, float, float]:
        if self.task_ids != baseline.task_ids:
            raise ValueError("Δ% needs both systems scored on the same tasks")
        mask = self.discovery if discovery_only else np.ones(len(self.discovery), bool)
        return relative_delta(baseline.per_task[metric][mask], self.per_task[metric][mask], seed=seed)


def evaluate(tasks: TaskSet, reasoner: Reasoner, verbalizer=None, batch_size: int = 256,
             progress: bool = True, system: str | None = None) -> EvalResult:
    """Score every task; contexts are verbalized only for reasoners that read text."""
    parts, ids, disc, labels, chars = [], [], [], [], []
    reads_text = getattr(reasoner, "uses_text", True)
    bar = tqdm(total=len(tasks), desc=f"eval {reasoner.name}", unit="task", disable=not progress)
    for batch in tasks.batches(batch_size):
        contexts = verbalizer.verbalize(batch) if (reads_text and verbalizer is not None) else [""] * len(batch)
        parts.append(reasoner.score(batch, contexts))
        chars += [len(c) for c in contexts]
        ids += [t.task_id for t in batch]
        disc += [t.discovery for t in batch]
        labels += [t.label for t in batch]
        bar.update(len(batch))
    bar.close()
    scores = Scores.concat(parts)
    per_task = per_task_metrics(scores.values, np.array(labels), scores.valid)
    discovery = np.array(disc, bool)
    name = system or (f"{verbalizer.name}/{reasoner.name}" if reads_text and verbalizer else reasoner.name)
    reads = reads_text and verbalizer is not None
    return EvalResult(name, ids, discovery, per_task, summarize(per_task, discovery),
                      np.array(chars, dtype=float) if reads else None)
