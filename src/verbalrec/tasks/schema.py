"""The reranking task: a user's history before a target, and N shuffled candidates.

Task files are Parquet with this schema (one row per task); ``verbalrec`` reads files built
elsewhere if they follow it. ``hist_*`` lists are aligned and chronological (oldest first).

==================  ==============  ===================================================
column              type            meaning
==================  ==============  ===================================================
task_id             string          unique id
user_id             string          the user
split               string          train / valid / test
target_time         int64           Unix seconds of the target event
target_item         string          the item engaged with next
discovery           bool            target never occurred earlier in the user's log
label               int32           index of ``target_item`` in ``candidates``
candidates          list<string>    N item ids, shuffled, exactly one is the target
hist_item           list<string>    item ids of the history, at most H
hist_time           list<int64>     their Unix seconds
hist_engagement     list<string>    their engagement types
hist_duration       list<double>    minutes watched (null when unknown)
hist_device         list<string>    device (null when unknown)
hist_rating         list<double>    rating (null when unknown)
==================  ==============  ===================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import InputError
from ..logs.schema import TS_MAX, TS_MIN

TASK_SCHEMA = pa.schema([
    ("task_id", pa.string()), ("user_id", pa.string()), ("split", pa.string()),
    ("target_time", pa.int64()), ("target_item", pa.string()), ("discovery", pa.bool_()),
    ("label", pa.int32()), ("candidates", pa.list_(pa.string())),
    ("hist_item", pa.list_(pa.string())), ("hist_time", pa.list_(pa.int64())),
    ("hist_engagement", pa.list_(pa.string())), ("hist_duration", pa.list_(pa.float64())),
    ("hist_device", pa.list_(pa.string())), ("hist_rating", pa.list_(pa.float64())),
])
SPLITS = ("train", "valid", "test")


@dataclass
class Task:
    """One reranking task, as plain Python values."""

    task_id: str
    user_id: str
    split: str
    target_time: int
    target_item: str
    discovery: bool
    label: int
    candidates: list[str]
    hist_item: list[str]
    hist_time: list[int]
    hist_engagement: list[str] = field(default_factory=list)
    hist_duration: list[float | None] = field(default_factory=list)
    hist_device: list[str | None] = field(default_factory=list)
    hist_rating: list[float | None] = field(default_factory=list)

    def history(self) -> list[dict]:
        """The history as one dict per interaction (oldest first)."""
        n = len(self.hist_item)
        col = lambda xs: xs if len(xs) == n else [None] * n  # noqa: E731
        return [dict(timestamp=t, item_id=i, engagement=e, duration_min=d, device=v, rating=r)
                for t, i, e, d, v, r in zip(self.hist_time, self.hist_item, col(self.hist_engagement),
                                            col(self.hist_duration), col(self.hist_device), col(self.hist_rating))]


@dataclass
class TaskSet:
    """Tasks (an Arrow table in TASK_SCHEMA) with the catalog their items come from."""

    table: pa.Table
    catalog: pd.DataFrame
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.table.num_rows

    def split(self, name: str) -> "TaskSet":
        return TaskSet(self.table.filter(pc.equal(self.table["split"], name)), self.catalog, self.meta)

    def head(self, n: int) -> "TaskSet":
        return TaskSet(self.table.slice(0, n), self.catalog, self.meta)

    def batches(self, size: int = 256) -> Iterator[list[Task]]:
        for start in range(0, len(self), size):
            yield [Task(**row) for row in self.table.slice(start, size).to_pylist()]

    def tasks(self) -> list[Task]:
        return [Task(**row) for row in self.table.to_pylist()]

    @property
    def n_candidates(self) -> int:
        lengths = pc.list_value_length(self.table["candidates"])
        return int(pc.max(lengths).as_py() or 0)


def without_engagements(tasks: TaskSet, engagements) -> TaskSet:
    """The same tasks with every history event whose engagement is in ``engagements`` removed
    (targets and candidates untouched), e.g. a Reasoner's warm-start corpus without trailers."""
    skip = set(engagements)
    if not skip or len(tasks) == 0:
        return tasks
    cols = tasks.table.to_pydict()
    hist = [c for c in tasks.table.column_names if c.startswith("hist_")]
    for i, engaged in enumerate(cols["hist_engagement"]):
        keep = [j for j, e in enumerate(engaged or []) if e not in skip]
        if engaged and len(keep) < len(engaged):
            for c in hist:
                if cols[c][i]:
                    cols[c][i] = [cols[c][i][j] for j in keep]
    return TaskSet(pa.Table.from_pydict(cols, schema=tasks.table.schema), tasks.catalog, tasks.meta)


def read_task_table(path: str | Path) -> pa.Table:
    """Read and type-check a task Parquet file; missing optional ``hist_*`` columns are filled."""
    path = Path(path)
    if not path.exists():
        raise InputError("task file not found", file=path, fix="build it with `verbalrec tasks build`")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"not a readable Parquet file ({err})", file=path, fix="rebuild the task file") from None
    required = ["task_id", "user_id", "split", "target_time", "target_item", "label", "candidates",
                "hist_item", "hist_time"]
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise InputError(f"missing column(s) {missing}", file=path, field=missing[0],
                         fix="follow the task schema in verbalrec.tasks.schema")
    for name in TASK_SCHEMA.names:
        if name not in table.column_names:
            typ = TASK_SCHEMA.field(name).type
            if name == "discovery":
                col = pa.array([t not in h for t, h in zip(table["target_item"].to_pylist(),
                                                           table["hist_item"].to_pylist())])
            else:
                col = pa.array([[None] * len(h) for h in table["hist_item"].to_pylist()], typ)
            table = table.append_column(name, col)
    try:
        table = table.select(TASK_SCHEMA.names).cast(TASK_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise InputError(f"a column has the wrong type ({err})", file=path,
                         fix="follow the task schema in verbalrec.tasks.schema") from None
    _check_time_range(table, path)
    return table


def _check_time_range(table: pa.Table, path: Path) -> None:
    """Target and history times inside the range every log is held to (nulls: the leakage check)."""
    from ..logs.schema import unix_seconds
    for name in ("target_time", "hist_time"):
        column = pc.list_flatten(table[name]) if name == "hist_time" else table[name]
        times = pd.Series(column.drop_null().to_numpy(zero_copy_only=False))
        try:
            unix_seconds(times, file=path, row_offset=1)
        except InputError as err:  # name the task row and the column, not the flat position
            bad = pc.or_(pc.less(column, TS_MIN), pc.greater(column, TS_MAX)).to_numpy(zero_copy_only=False)
            first = int(np.flatnonzero(bad)[0])
            row = pc.list_parent_indices(table[name]).to_numpy()[first] if name == "hist_time" else first
            raise InputError(err.problem, file=path, row=int(row) + 1, field=name, fix=err.fix) from None


def training_sequences(train: TaskSet) -> dict[str, list[str]]:
    """Each user's chronological items: the union of their training tasks' histories and targets,
    keyed by (time, item) so overlapping histories count once. Classical rankers fit on these, so
    they see exactly what the training tasks hold."""
    cols = train.table.select(["user_id", "target_time", "target_item", "hist_item", "hist_time"]).to_pydict()
    events: dict[str, dict] = {}
    for i in sorted(range(len(cols["user_id"])), key=lambda i: cols["target_time"][i]):
        items, tt = cols["hist_item"][i], cols["target_time"][i]
        times = cols["hist_time"][i] or []
        if len(times) != len(items) or None in times:  # no hist_time: place at target_time, keep list order
            times = [tt] * len(items)
        seen = events.setdefault(cols["user_id"][i], {})
        for key in zip(times + [tt], items + [cols["target_item"][i]]):
            seen.setdefault(key, None)
    return {u: [item for _, item in sorted(ev, key=lambda k: k[0])] for u, ev in events.items()}


def training_events(train: TaskSet) -> dict[str, list[dict]]:
    """Each user's chronological training events (the union of their training tasks' histories
    and targets, each event once), as ``Task.history()`` dicts. Everything here precedes the
    user's first valid/test target, so a text built from it cannot hold an evaluation target.
    A target that no later history shows is kept with its engagement unknown."""
    events: dict[str, dict] = {}
    tasks = train.tasks()
    for task in tasks:
        seen = events.setdefault(task.user_id, {})
        for e in task.history():
            seen.setdefault((e["timestamp"], e["item_id"]), e)
    for task in tasks:
        events[task.user_id].setdefault((task.target_time, task.target_item), {
            "timestamp": task.target_time, "item_id": task.target_item, "engagement": None,
            "duration_min": None, "device": None, "rating": None})
    return {u: [ev[k] for k in sorted(ev, key=lambda k: k[0])] for u, ev in events.items()}
