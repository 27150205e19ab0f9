"""The leakage check that runs on every task build and every task file read.

Refuses a task set when
1. a history event is later than its target (the history contains the future), has no time,
   or is the target event itself (same item at the target's second, not exposure noise);
2. a valid/test target event (user, item, time) appears in a training task, as target or in
   a history (test targets never reach training);
3. a task's candidates are malformed: ``candidates[label] != target_item`` or duplicates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import LeakageError
from ..logs.schema import NOISE_ENGAGEMENTS


def _event_keys(users, items, times) -> np.ndarray:
    hu = pd.util.hash_array(np.asarray(users, dtype=object))
    hi = pd.util.hash_array(np.asarray(items, dtype=object))
    return hu ^ (hi * np.uint64(0x9E3779B97F4A7C15)) ^ np.asarray(times, dtype=np.int64).astype(np.uint64)


def _first(table: pa.Table, rows: np.ndarray) -> str:
    return str(table["task_id"][int(rows[0])].as_py())


def _check_times(table: pa.Table, file: object) -> None:
    """Every target and history event has a time, and each history's times match its items."""
    null = lambda arr: pc.is_null(arr).to_numpy(zero_copy_only=False)  # noqa: E731
    hist_parents = pc.list_parent_indices(table["hist_time"]).to_numpy()
    missing = {"target_time": ("a target", np.flatnonzero(null(table["target_time"]))),
               "hist_time": ("a history event", hist_parents[null(pc.list_flatten(table["hist_time"]))])}
    for name, (what, rows) in missing.items():
        if len(rows):
            raise LeakageError(f"task {_first(table, rows)}: {what} has no time", file=file, field=name,
                               fix="every event needs its time; rebuild the tasks")
    uneven = pc.fill_null(pc.not_equal(pc.list_value_length(table["hist_time"]),  # a null list: uneven
                                       pc.list_value_length(table["hist_item"])), True).to_numpy(zero_copy_only=False)
    if uneven.any():
        raise LeakageError(f"task {_first(table, np.flatnonzero(uneven))}: hist_time and hist_item differ in "
                           "length", file=file, field="hist_time", fix="one time per history item; rebuild the tasks")


def _same_second_other_events(table: pa.Table, parents: np.ndarray, hist_item: np.ndarray,
                              target_item: np.ndarray, same: np.ndarray) -> np.ndarray:
    """Which history events with the target's (item, second) are other events, not the target.

    Exposure noise (trailer, preview) is never the target. A non-noise one is another, earlier
    event when a non-noise event of another item follows it in the history: a target starts a
    new visit (its user's previous non-noise event is another item), so a log with several
    events in one second -- add_to_list X, add_to_list Y, play X -- gives the play of X a
    history holding the earlier X at the same time. The target copied into its own history has
    no such event after it."""
    noise = np.zeros(len(hist_item), bool)
    eng = pc.list_flatten(table["hist_engagement"]).to_numpy(zero_copy_only=False)
    if len(eng) == len(hist_item):  # engagements aligned with the times (else: none counts as noise)
        noise = np.isin(eng, list(NOISE_ENGAGEMENTS))
    at = np.arange(len(hist_item))
    other = ~noise & (hist_item != target_item) & np.isin(parents, parents[same])
    last_other = np.full(table.num_rows, -1, np.int64)  # per task: its last non-noise event of another item
    np.maximum.at(last_other, parents[other], at[other])
    return noise | (at < last_other[parents])


def check_leakage(table: pa.Table, file: object = "tasks") -> None:
    n = table.num_rows
    if n == 0:
        return
    _check_times(table, file)
    # 1. no future in histories
    parents = pc.list_parent_indices(table["hist_time"]).to_numpy()
    hist_time = pc.list_flatten(table["hist_time"]).to_numpy(zero_copy_only=False)
    target_time = table["target_time"].to_numpy()
    future = hist_time > target_time[parents]
    hist_item = pc.list_flatten(table["hist_item"]).to_numpy(zero_copy_only=False)
    target_item = table["target_item"].to_numpy(zero_copy_only=False)[parents]
    same = (hist_time == target_time[parents]) & (hist_item == target_item)
    if same.any():
        same &= ~_same_second_other_events(table, parents, hist_item, target_item, same)
    if same.any():
        rows = parents[same]
        raise LeakageError(f"task {_first(table, rows)}: the target event is inside its own history "
                           f"({len(np.unique(rows))} tasks)", file=file, field="hist_item",
                           fix="histories may only hold events before the target; rebuild the tasks")
    if future.any():
        rows = parents[future]
        raise LeakageError(f"task {_first(table, rows)}: a history event is later than its target "
                           f"({len(np.unique(rows))} tasks)", file=file, field="hist_time",
                           fix="histories may only hold events before the target; rebuild the tasks")
    # 3. candidates well-formed
    cands = table["candidates"]
    labels = table["label"].to_numpy()
    lengths = pc.list_value_length(cands).to_numpy()
    bad_label = (labels < 0) | (labels >= lengths)
    flat_c = pc.list_flatten(cands).to_numpy(zero_copy_only=False)
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    picked = np.where(bad_label, "", flat_c[np.minimum(starts + np.maximum(labels, 0), len(flat_c) - 1)])
    wrong = bad_label | (picked != table["target_item"].to_numpy(zero_copy_only=False))
    cparents = pc.list_parent_indices(cands).to_numpy()
    dup = pd.DataFrame({"t": cparents, "c": flat_c}).duplicated().to_numpy()
    if wrong.any() or dup.any():
        rows = np.flatnonzero(wrong) if wrong.any() else cparents[dup]
        raise LeakageError(f"task {_first(table, rows)}: candidates[label] is not the target or a candidate "
                           "repeats", file=file, field="candidates",
                           fix="each task needs N distinct candidates with the target at index label")
    # 2. evaluation targets never reach training tasks
    split = table["split"].to_numpy(zero_copy_only=False)
    users = table["user_id"].to_numpy(zero_copy_only=False)
    items = table["target_item"].to_numpy(zero_copy_only=False)
    train = split == "train"
    eval_ = ~train
    if not train.any() or not eval_.any():
        return
    eval_keys = _event_keys(users[eval_], items[eval_], target_time[eval_])
    train_target_keys = _event_keys(users[train], items[train], target_time[train])
    train_tab = table.filter(pa.array(train))
    hparents = pc.list_parent_indices(train_tab["hist_item"]).to_numpy()
    hist_keys = _event_keys(train_tab["user_id"].to_numpy(zero_copy_only=False)[hparents],
                            pc.list_flatten(train_tab["hist_item"]).to_numpy(zero_copy_only=False),
                            pc.list_flatten(train_tab["hist_time"]).to_numpy(zero_copy_only=False))
    in_train = np.isin(eval_keys, np.concatenate([train_target_keys, hist_keys]))
    if in_train.any():
        rows = np.flatnonzero(eval_)[in_train]
        raise LeakageError(f"task {_first(table, rows)}: a {split[rows[0]]} target appears in a training task "
                           f"({len(rows)} targets)", file=file, field="split",
                           fix="split by time so training tasks end before evaluation targets")
