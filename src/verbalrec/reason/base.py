"""The Reasoner interface: context + candidates -> one score per candidate.

Every ranker fits it -- classical baselines (which read the structured history and ignore the
text), LLM label scoring, generation, endpoints -- so ``evaluate`` never asks which it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from ..tasks.schema import Task, TaskSet


@dataclass
class Scores:
    """``values[i, j]``: score of candidate j of task i (higher is better, -inf for padding);
    ``valid[i]``: False when the reasoner gave no usable answer (counts as a miss)."""

    values: np.ndarray
    valid: np.ndarray

    def __post_init__(self):
        self.values = np.asarray(self.values, dtype=np.float64)
        self.valid = np.asarray(self.valid, dtype=bool)
        if self.values.ndim != 2 or self.valid.shape != (self.values.shape[0],):
            raise ValueError(f"scores {self.values.shape} and valid {self.valid.shape} disagree")

    @classmethod
    def concat(cls, parts: Sequence["Scores"]) -> "Scores":
        width = max(p.values.shape[1] for p in parts)
        pad = lambda v: np.pad(v, ((0, 0), (0, width - v.shape[1])), constant_values=-np.inf)  # noqa: E731
        return cls(np.concatenate([pad(p.values) for p in parts]), np.concatenate([p.valid for p in parts]))

    def predict(self) -> np.ndarray:
        """Index of the top candidate per task (-1 where invalid)."""
        return np.where(self.valid, self.values.argmax(axis=1), -1)


class Reasoner(Protocol):
    """``name`` keys caches and reports; ``fit`` sees only training tasks (a no-op for LLMs)."""

    name: str

    def fit(self, train: TaskSet) -> "Reasoner": ...

    def score(self, tasks: Sequence[Task], contexts: Sequence[str]) -> Scores: ...
