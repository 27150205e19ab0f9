"""The eval loop: tasks x verbalizer x reasoner -> per-task metrics and a summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from ..metrics import per_task_metrics, summarize
from ..reason.base import Reasoner, Scores
from ..tasks.schema import Task, TaskSet
from .bootstrap import mean_ci, relative_delta


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


def result_of(system: str, tasks: Sequence[Task], scores: Scores, contexts: Sequence[str] | None = None) -> EvalResult:
    """Per-task metrics and summary of ``scores`` on ``tasks`` (``contexts``: what the reasoner read)."""
    per_task = per_task_metrics(scores.values, np.array([t.label for t in tasks]), scores.valid,
                                n_candidates=[len(t.candidates) for t in tasks])
    discovery = np.array([t.discovery for t in tasks], bool)
    chars = np.array([len(c) for c in contexts], dtype=float) if contexts is not None else None
    return EvalResult(system, [t.task_id for t in tasks], discovery, per_task, summarize(per_task, discovery), chars)


def evaluate(tasks: TaskSet, reasoner: Reasoner, verbalizer=None, batch_size: int = 256,
             progress: bool = True, system: str | None = None) -> EvalResult:
    """Score every task; contexts are verbalized only for reasoners that read text."""
    parts, seen, contexts = [], [], []
    reads = getattr(reasoner, "uses_text", True) and verbalizer is not None
    bar = tqdm(total=len(tasks), desc=f"eval {reasoner.name}", unit="task", disable=not progress)
    for batch in tasks.batches(batch_size):
        texts = verbalizer.verbalize(batch) if reads else [""] * len(batch)
        parts.append(reasoner.score(batch, texts))
        seen += batch
        contexts += texts
        bar.update(len(batch))
    bar.close()
    name = system or (f"{verbalizer.name}/{reasoner.name}" if reads else reasoner.name)
    return result_of(name, seen, Scores.concat(parts), contexts if reads else None)
