"""What verbalizers do to a history (paper section 7), measured on their actual outputs.

Every measure is a share of tasks in [0, 1], computed only over the tasks where it can apply
(``None`` when none can), and uses plain text matching -- crude, but the same for every
verbalizer, so the shares compare:

* ``history_coverage``: the share of the history's distinct (non-noise) titles the text names --
  faithfulness: a verbalizer that writes the same text for every user scores low here however
  well it scores with the Reasoner;
* ``drop_ids``: the text carries no internal ID (``ID: 171``) although the template did;
* ``aggregate``: among histories with a repeated item or several episodes of one show, the text
  names a repeated title fewer times than the log has it (but at least once), or counts
  ("3 episodes", "twice", "x2");
* ``summary``: the text states an interest summary ("Interests: ...", "enjoys", "fan of", ...);
* ``noise_removed`` (logs with trailers/previews): items that occur in the history *only* as noise
  and whose title is absent from the text;
* ``taste_mentioned`` (synthetic logs, from the planted truth): the user's top planted genre
  appears in the text.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

import numpy as np

from ..compression import char_ratios
from ..logs.catalog import Catalog
from ..logs.schema import NOISE_ENGAGEMENTS
from ..tasks.schema import Task

ID_PATTERN = re.compile(r"\bID:\s*\S+")
COUNT_PATTERN = re.compile(r"(?i)\b(\d+|two|three|four|five|several|many) (episodes|times|views|plays)\b|\btwice\b|[x×]\d+\b")
SUMMARY_PATTERN = re.compile(r"(?i)\b(interests?|enjoys?|likes? to|prefers?|fan of|tends? to|mostly|taste|summary|favou?rite)\b")


def _share(flags: list[bool]) -> float | None:
    return float(np.mean(flags)) if flags else None


def _mentions(low_text: str, title: str) -> int:
    """Occurrences of ``title`` in an already lower-cased text."""
    return low_text.count(title.lower()) if title else 0


def history_coverage(tasks: Sequence[Task], texts: Sequence[str], catalog: Catalog) -> float | None:
    shares = []
    for task, text in zip(tasks, texts):
        titles = {catalog.title(i) for i, e in zip(task.hist_item, task.hist_engagement or [None] * len(task.hist_item))
                  if e not in NOISE_ENGAGEMENTS}
        if titles:
            low = text.lower()
            shares.append(np.mean([_mentions(low, t) > 0 for t in titles]))
    return float(np.mean(shares)) if shares else None


def drop_ids(raws: Sequence[str], texts: Sequence[str]) -> float | None:
    return _share([not ID_PATTERN.search(t) for r, t in zip(raws, texts) if ID_PATTERN.search(r)])


def aggregate(tasks: Sequence[Task], texts: Sequence[str], catalog: Catalog) -> float | None:
    flags = []
    for task, text in zip(tasks, texts):
        repeats = {i: c for i, c in Counter(task.hist_item).items() if c > 1}
        series = Counter(s for s in ((catalog.rows.get(str(i)) or {}).get("series") for i in task.hist_item)
                         if isinstance(s, str) and s)
        if not repeats and not any(c > 1 for c in series.values()):
            continue
        low = text.lower()
        fewer = any(0 < _mentions(low, catalog.title(i)) < c for i, c in repeats.items())
        flags.append(fewer or bool(COUNT_PATTERN.search(text)))
    return _share(flags)


def summary(texts: Sequence[str]) -> float | None:
    return _share([bool(SUMMARY_PATTERN.search(t)) for t in texts])


def noise_removed(tasks: Sequence[Task], texts: Sequence[str], catalog: Catalog) -> float | None:
    flags = []
    for task, text in zip(tasks, texts):
        kinds: dict[str, set] = {}
        for item, engagement in zip(task.hist_item, task.hist_engagement or [None] * len(task.hist_item)):
            kinds.setdefault(item, set()).add(engagement in NOISE_ENGAGEMENTS)
        low = text.lower()
        flags += [_mentions(low, catalog.title(i)) == 0 for i, k in kinds.items() if k == {True}]
    return _share(flags)


def taste_mentioned(tasks: Sequence[Task], texts: Sequence[str], truth: dict | None) -> float | None:
    users = (truth or {}).get("users") or {}
    flags = [users[t.user_id]["top_genres"][0][0].lower() in text.lower()
             for t, text in zip(tasks, texts) if users.get(t.user_id, {}).get("top_genres")]
    return _share(flags)


def analyse(tasks: Sequence[Task], raws: Sequence[str], texts: Sequence[str], catalog: Catalog,
            truth: dict | None = None) -> dict:
    """The analysis row of one verbalizer (``raws``: the template texts of the same tasks)."""
    ratios = char_ratios([len(t) for t in texts], [len(r) for r in raws]).tolist()
    return {"n": len(texts), "compression_ratio_mean": float(np.mean(ratios)) if ratios else None,
            "compression_ratios": [round(x, 4) for x in ratios],
            "history_coverage": history_coverage(tasks, texts, catalog), "drop_ids": drop_ids(raws, texts),
            "aggregate": aggregate(tasks, texts, catalog), "summary": summary(texts),
            "noise_removed": noise_removed(tasks, texts, catalog), "taste_mentioned": taste_mentioned(tasks, texts, truth)}


def pick_examples(tasks: Sequence[Task], catalog: Catalog, k: int = 1) -> list[int]:
    """Indices of the ``k`` tasks that show the most (repeats + noise events + shows), ties to the
    shortest history so the example stays readable; deterministic."""
    def interest(task: Task) -> tuple:
        repeats = sum(c - 1 for c in Counter(task.hist_item).values())
        noise = sum(e in NOISE_ENGAGEMENTS for e in task.hist_engagement or [])
        shows = sum(bool((catalog.rows.get(str(i)) or {}).get("series")) for i in task.hist_item)
        return (-(repeats + noise + min(shows, 3)), len(task.hist_item), task.task_id)
    return sorted(range(len(tasks)), key=lambda i: interest(tasks[i]))[:k]
