"""Classical rankers on the same tasks: random, popularity, item co-occurrence (item-kNN).

They read the structured history, not the verbalized text (``uses_text = False``), and fit on
training tasks only.
"""

from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np
import pandas as pd

from ..tasks.cooccurrence import CoOccurrence
from ..tasks.schema import Task, TaskSet, training_sequences
from .base import Scores


class RandomRanker:
    """Uniform random scores; the chance level (1/N for Recall@1)."""

    name, uses_text = "random", False

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, train: TaskSet) -> "RandomRanker":
        return self

    def score(self, tasks: Sequence[Task], contexts: Sequence[str] | None = None) -> Scores:
        # seeded per task id, so a task's scores do not depend on batching or order
        rows = [np.random.default_rng([self.seed, zlib.crc32(t.task_id.encode())]).random(len(t.candidates))
                for t in tasks]
        return Scores(np.array(rows), np.ones(len(tasks), bool))


class PopularityRanker:
    """Score = number of training events of the candidate."""

    name, uses_text = "popularity", False

    def fit(self, train: TaskSet) -> "PopularityRanker":
        items = [i for seq in training_sequences(train).values() for i in seq]
        self.counts = pd.Series(items, dtype=object).value_counts().to_dict()
        return self

    def score(self, tasks: Sequence[Task], contexts: Sequence[str] | None = None) -> Scores:
        return Scores(np.array([[self.counts.get(c, 0) for c in t.candidates] for t in tasks], float),
                      np.ones(len(tasks), bool))


class ItemKNNRanker:
    """Score = summed co-occurrence cosine between the candidate and the last ``last`` history items."""

    name, uses_text = "itemknn", False

    def __init__(self, window: int = 5, last: int = 20):
        self.window, self.last = window, last

    def fit(self, train: TaskSet) -> "ItemKNNRanker":
        seqs = training_sequences(train)
        self.index = pd.Index(sorted({i for s in seqs.values() for i in s}))
        self.model = CoOccurrence(len(self.index), self.window).fit(
            [self.index.get_indexer(s) for s in seqs.values()])
        return self

    def score(self, tasks: Sequence[Task], contexts: Sequence[str] | None = None) -> Scores:
        rows = [self.model.score(self.index.get_indexer(t.hist_item), self.index.get_indexer(t.candidates),
                                 self.last) for t in tasks]
        return Scores(np.array(rows), np.ones(len(tasks), bool))


def named_history(task: Task, text: str, title_of) -> list:
    """The history items ``text`` still names, in order: each line is matched to the next history
    event whose title it contains (case-insensitive), so dropped lines drop their events and a
    rewatch kept twice counts twice."""
    items, titles, pos = list(task.hist_item), [title_of(i).lower() for i in task.hist_item], 0
    kept = []
    for line in text.lower().split("\n"):
        for j in range(pos, len(items)):
            if titles[j] and titles[j] in line:
                kept.append(items[j])
                pos = j + 1
                break
    return kept


class TextItemKNNRanker(ItemKNNRanker):
    """Item-kNN that reads the verbalization instead of the log: only the history items the text
    still names (``named_history``), the last ``last`` of them. A frozen reader whose capacity is the
    constraint (20 items), so what a verbalizer keeps changes its answer (Stage 1 oracle
    ``itemknn-text``; whether dropping a kind of line helps it is measured by ``bench/headroom.py``)."""

    name, uses_text = "itemknn-text", True

    def __init__(self, catalog, window: int = 5, last: int = 20):
        super().__init__(window, last)
        from ..logs.catalog import Catalog
        self.catalog = catalog if isinstance(catalog, Catalog) else Catalog(catalog)

    def score(self, tasks: Sequence[Task], contexts: Sequence[str] | None = None) -> Scores:
        if contexts is None:
            return super().score(tasks)
        rows = [self.model.score(self.index.get_indexer(named_history(t, c, self.catalog.title)),
                                 self.index.get_indexer(t.candidates), self.last) for t, c in zip(tasks, contexts)]
        return Scores(np.array(rows), np.ones(len(tasks), bool))
