"""Build reranking tasks from an event log, chronologically and without leakage.

A *target* is an event that starts a new item visit: not exposure noise (trailer, preview) and
not the same item as the user's previous non-noise event (a thumb right after a play is the same
visit). Its history is the H events before it (noise included: filtering is the verbalizer's job).
``discovery`` is True when the user had no earlier non-noise event with the target item.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
from tqdm.auto import tqdm

from ..errors import InputError
from ..logs.schema import NOISE_ENGAGEMENTS, EventLog
from .cooccurrence import CoOccurrence
from .leakage import check_leakage
from .protocol import TaskProtocol, check_catalog_size, check_kept, no_test_tasks
from .schema import TASK_SCHEMA, TaskSet


def data_hash(events: pd.DataFrame) -> str:
    digest = hashlib.sha256(pd.util.hash_pandas_object(events, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _user_bounds(users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of contiguous user blocks -> (start of each event's user, position within user)."""
    new = np.r_[True, users[1:] != users[:-1]]
    starts = np.flatnonzero(new)
    start_of = starts[np.cumsum(new) - 1]
    return start_of, np.arange(len(users)) - start_of


def _target_flags(ev: pd.DataFrame, users: np.ndarray, items: np.ndarray, pos: np.ndarray,
                  min_history: int) -> tuple[np.ndarray, np.ndarray]:
    """(eligible as target, discovery) for every event."""
    noise = ev["engagement"].isin(NOISE_ENGAGEMENTS).to_numpy()
    signal_item = pd.Series(np.where(noise, np.nan, items))
    prev_signal = signal_item.groupby(users).shift(1).groupby(users).ffill().to_numpy()
    eligible = ~noise & (prev_signal != items) & (pos >= min_history)
    seen_before = pd.DataFrame({"u": users, "i": items})[~noise].duplicated().reindex(
        range(len(ev)), fill_value=True).to_numpy()
    return eligible, ~seen_before


def _rank_within_user(users: np.ndarray, mask: np.ndarray, reverse: bool) -> np.ndarray:
    """0-based rank of each masked event among its user's masked events (from the end if reverse)."""
    s = pd.Series(users[mask])
    rank = s.groupby(s).cumcount(ascending=not reverse).to_numpy()
    out = np.full(len(users), -1)
    out[mask] = rank
    return out


def _assign_splits(p: TaskProtocol, ts: np.ndarray, users: np.ndarray, eligible: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Split label per event ('' when not a task) and the mask of training-period events."""
    split = np.full(len(ts), "", dtype=object)
    cap = lambda rank, k: (rank >= 0) & ((k == 0) | (rank < k))  # noqa: E731
    if p.split == "leave_last":
        back = _rank_within_user(users, eligible, reverse=True)
        split[back == 0], split[back == 1] = "test", "valid"
        train = back >= 2
        split[train & cap(back - 2, p.train_tasks_per_user)] = "train"
        # training period: everything before the user's first evaluation target
        first_eval = pd.Series(np.where((back >= 0) & (back <= 1), np.arange(len(ts)), len(ts))
                               ).groupby(users).transform("min").to_numpy()
        train_events = np.arange(len(ts)) < first_eval
    else:
        c1, c2 = np.quantile(ts, [p.time_fractions[0], p.time_fractions[0] + p.time_fractions[1]])
        period = np.where(ts < c1, "train", np.where(ts < c2, "valid", "test"))
        for name in ("train", "valid", "test"):
            mask = eligible & (period == name)
            k = p.train_tasks_per_user if name == "train" else p.eval_tasks_per_user
            split[cap(_rank_within_user(users, mask, reverse=(name == "train")), k)] = name
        train_events = ts < c1
    return split, train_events


class _NegativeSampler:
    def __init__(self, p: TaskProtocol, n_items: int, train_items: np.ndarray,
                 train_sequences: list[np.ndarray], rng: np.random.Generator):
        self.p, self.n_items, self.rng = p, n_items, rng
        counts = np.bincount(train_items, minlength=n_items).astype(float)
        weights = (counts + 1.0) ** p.popularity_power  # +1: items unseen in training stay possible
        self.cdf = np.cumsum(weights) / weights.sum()
        self.retriever = CoOccurrence(n_items).fit(train_sequences) if p.negatives == "cooccurrence" else None

    def _draw(self, k: int, popularity: bool) -> np.ndarray:
        if popularity:
            return np.minimum(np.searchsorted(self.cdf, self.rng.random(k)), self.n_items - 1)
        return self.rng.integers(0, self.n_items, size=k)

    def sample(self, need: int, seen: set, target: int, history: np.ndarray) -> list[int] | None:
        """``need`` distinct items, none in ``seen`` and none equal to ``target``."""
        out: list[int] = []
        if self.retriever is not None:
            pool = [i for i in self.retriever.retrieve(history, self.p.hard_pool + len(seen)).tolist()
                    if i not in seen and i != target][: self.p.hard_pool]
            if pool:
                take = self.rng.choice(len(pool), size=min(need, len(pool)), replace=False)
                out = [pool[i] for i in sorted(take)]
        popularity = self.p.negatives != "uniform"
        for _ in range(50):  # rejection sampling; 50 rounds only fail when nearly all items are seen
            if len(out) >= need:
                return out[:need]
            for i in self._draw(2 * need + 8, popularity).tolist():
                if i not in seen and i != target and i not in out:
                    out.append(i)
        return out[:need] if len(out) >= need else None


def _strings(values: np.ndarray) -> pa.Array:
    """Low-cardinality strings (engagement, device) by dictionary take: fast and never chunked."""
    codes, uniques = pd.factorize(values)  # None -> -1 -> null
    return pa.array(np.asarray(uniques, dtype=object), pa.string()).take(pa.array(codes, mask=codes < 0))


def _list_column(values: np.ndarray, offsets: np.ndarray, typ: pa.DataType) -> pa.ListArray:
    flat = _strings(values) if typ == pa.string() else pa.array(values, typ, from_pandas=True)
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), flat)


def build_tasks(log: EventLog, protocol: TaskProtocol, progress: bool = True) -> TaskSet:
    """All tasks of ``log`` under ``protocol``; the leakage check runs before returning."""
    p, ev = protocol, log.events
    check_catalog_size(p, len(log.catalog))
    item_ids = pd.Index(log.catalog["item_id"])
    items = item_ids.get_indexer(ev["item_id"])
    if (items < 0).any():
        raise InputError("events reference items missing from the catalog", field="item_id",
                         fix="load the log through verbalrec.logs so it is validated")
    users = pd.factorize(ev["user_id"])[0]
    ts = ev["timestamp"].to_numpy()
    start_of, pos = _user_bounds(users)
    eligible, discovery = _target_flags(ev, users, items, pos, p.min_history)
    split, train_events = _assign_splits(p, ts, users, eligible)
    selected = np.flatnonzero(split != "")
    if not (split[selected] == "test").any():
        raise no_test_tasks(p)

    rng = np.random.default_rng(p.seed)
    tr_users, tr_items = users[train_events], items[train_events]
    bounds = np.flatnonzero(np.r_[True, tr_users[1:] != tr_users[:-1], True])
    sequences = [tr_items[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    sampler = _NegativeSampler(p, len(item_ids), tr_items, sequences, rng)

    hist_start = np.maximum(start_of[selected], selected - p.history_len)
    n_cand = p.n_candidates
    cand_codes = np.empty((len(selected), n_cand), dtype=np.int64)
    labels = np.empty(len(selected), dtype=np.int32)
    keep = np.ones(len(selected), dtype=bool)
    seen: set = set()
    last_user, last_pos = -1, 0
    for k, e in enumerate(tqdm(selected, desc="negatives", unit="task", disable=not progress, mininterval=1)):
        if users[e] != last_user:
            seen, last_user, last_pos = set(), users[e], start_of[e]
        seen.update(items[last_pos:e].tolist())
        last_pos = e
        target = int(items[e])
        negs = sampler.sample(n_cand - 1, seen, target, items[hist_start[k]:e])
        if negs is None:
            keep[k] = False
            continue
        order = rng.permutation(n_cand)
        row = np.array([target] + negs)[order]
        cand_codes[k], labels[k] = row, int(np.flatnonzero(order == 0)[0])
    selected, hist_start, cand_codes, labels = selected[keep], hist_start[keep], cand_codes[keep], labels[keep]

    lengths = selected - hist_start
    offsets = np.r_[0, np.cumsum(lengths)]
    hist_idx = np.repeat(hist_start - offsets[:-1], lengths) + np.arange(offsets[-1])
    item_dict = pa.array(item_ids.astype(str).to_numpy(dtype=object), pa.string())
    take_items = lambda codes: item_dict.take(pa.array(codes, pa.int64()))  # noqa: E731
    col = lambda name: ev[name].to_numpy()[hist_idx]  # noqa: E731
    user_str = ev["user_id"].to_numpy()[selected]
    table = pa.Table.from_arrays([
        pa.array([f"{u}:{e - s}" for u, e, s in zip(user_str, selected, start_of[selected])], pa.string()),
        pa.array(user_str, pa.string()),
        pa.array(split[selected].astype(str), pa.string()),
        pa.array(ts[selected], pa.int64()),
        take_items(items[selected]),
        pa.array(discovery[selected], pa.bool_()),
        pa.array(labels, pa.int32()),
        pa.ListArray.from_arrays(pa.array(np.arange(0, cand_codes.size + 1, n_cand), pa.int32()),
                                 take_items(cand_codes.ravel())),
        pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), take_items(items[hist_idx])),
        _list_column(ts[hist_idx], offsets, pa.int64()),
        _list_column(col("engagement"), offsets, pa.string()),
        _list_column(col("duration_min").astype(float), offsets, pa.float64()),
        _list_column(col("device"), offsets, pa.string()),
        _list_column(col("rating").astype(float), offsets, pa.float64()),
    ], schema=TASK_SCHEMA)
    check_leakage(table)
    counts = {s: int((split[selected] == s).sum()) for s in ("train", "valid", "test")}
    check_kept(counts, int((~keep).sum()), p)
    meta = {"protocol": p.to_dict(), "counts": counts, "log": log.name, "data_hash": data_hash(ev),
            "dropped_no_negatives": int((~keep).sum()),
            "users_with_tasks": int(len(np.unique(users[selected]))), "users": int(users.max() + 1)}
    return TaskSet(table, log.catalog, meta)
