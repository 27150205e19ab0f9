"""The task rules, once: every engine hands blocks of complete users to ``build_block``.

A *target* is an event that starts a new item visit: not exposure noise (trailer, preview) and
not the same item as the user's previous non-noise event (a thumb right after a play is the same
visit), with at least ``min_history`` earlier events. Its history is the H events before it (noise
included: filtering is the verbalizer's job). ``discovery``: the user had no earlier non-noise
event with the target item. Negatives are items the user never interacted with before the target,
drawn from ``hashing`` (seed, user, target position, draw index), so a block's tasks depend only
on its users' events and the global ``Context``, never on how users were grouped into blocks.

A block is arrays of events sorted by (user, timestamp, log order); codes index the block's
``users`` and the context's sorted ``item_ids``. The block's tasks come out in the same order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..logs.schema import NOISE_ENGAGEMENTS
from . import hashing
from .protocol import TaskProtocol

if TYPE_CHECKING:  # scipy is imported only by builds with co-occurrence negatives
    from .cooccurrence import CoOccurrence

SPLIT_NAMES = ("train", "valid", "test")
TRAIN, VALID, TEST, NONE = 0, 1, 2, -1
MAX_ROUNDS = 50  # at most 50 * (2*need+8) draws per task; only fail when nearly every item was seen
#: CPU seconds (of the building thread) per step of build_block, added up over blocks
#: (bench/tasks_steps.py prints them): CPU, not wall, so that they mean the same under load.
TIMINGS: dict[str, float] = {}


def _lap(name: str, t0: float) -> float:
    t = time.thread_time()
    TIMINGS[name] = TIMINGS.get(name, 0.0) + t - t0
    return t


@dataclass
class Context:
    """What every block needs from the whole log (computed once per build by the engine)."""

    protocol: TaskProtocol
    item_ids: pa.Array                       # sorted catalog item ids; item codes index it
    cutoffs: tuple[float, float] | None = None  # split=time: train < c1 <= valid < c2 <= test
    cdf: np.ndarray | None = None             # popularity / cooccurrence fill: CDF over item codes
    retriever: CoOccurrence | None = None     # cooccurrence: hard-negative retriever

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


@dataclass
class Events:
    """A block of complete users' events, sorted by (user, timestamp, log order)."""

    user: np.ndarray         # int32 codes into users, nondecreasing, every code present
    users: pa.Array          # user ids (strings)
    timestamp: np.ndarray    # int64 Unix seconds
    item: np.ndarray         # int32 codes into Context.item_ids
    engagement: np.ndarray   # int32 codes into engagements
    engagements: pa.Array    # normalised engagement strings
    device: np.ndarray       # int32 codes into devices, -1 = unknown
    devices: pa.Array
    duration: np.ndarray     # float64, NaN = unknown
    rating: np.ndarray       # float64, NaN = unknown

    def __len__(self) -> int:
        return len(self.timestamp)


@dataclass
class Block:
    """A block's tasks (write form, see writer.py) and what the engine adds up over blocks."""

    table: pa.Table | None
    counts: dict = field(default_factory=lambda: dict.fromkeys(SPLIT_NAMES, 0))
    dropped: int = 0
    users: int = 0
    users_with_tasks: int = 0
    leaks: list = field(default_factory=list)  # (rule, first task_id, detail, n)
    digest: int = 0                              # order-free sum of event hashes (data_hash)


# ---------------------------------------------------------------- layout and targets

def _layout(ev: Events) -> tuple[np.ndarray, np.ndarray]:
    """(index of each event's user's first event, position of each event within its user)."""
    u = ev.user
    new = np.r_[True, u[1:] != u[:-1]] if len(u) else np.zeros(0, bool)
    start_of = np.flatnonzero(new)[np.cumsum(new) - 1]
    return start_of, np.arange(len(u)) - start_of


def noise_mask(ev: Events) -> np.ndarray:
    is_noise = np.isin(np.asarray(ev.engagements.to_pylist(), dtype=object), list(NOISE_ENGAGEMENTS))
    return is_noise[ev.engagement] if len(is_noise) else np.zeros(len(ev), bool)


def _targets(ev: Events, noise: np.ndarray, pos: np.ndarray, min_history: int) -> np.ndarray:
    """Eligible targets: non-noise, not the item of the user's previous non-noise event."""
    n = len(ev)
    last = np.maximum.accumulate(np.where(~noise, np.arange(n), -1))  # last non-noise event up to each
    j = np.r_[-1, last[:-1]] if n else last                           # ... strictly before each
    ok = j >= 0
    src = np.where(ok, j, 0)
    prev = np.where(ok & (ev.user[src] == ev.user), ev.item[src].astype(np.int64), -1)
    return ~noise & (prev != ev.item) & (pos >= min_history)


@dataclass
class _Firsts:
    """(user, item) pairs of a block: sorted keys, first event of each, and discovery per event."""

    keys: np.ndarray
    first: np.ndarray
    discovery: np.ndarray


def _firsts(ev: Events, noise: np.ndarray, n_items: int) -> _Firsts:
    key = ev.user.astype(np.int64) * n_items + ev.item
    bits = max(1, int(len(ev) - 1).bit_length())
    if len(ev) and (int(ev.user[-1]) + 1) * n_items < 1 << (62 - bits):  # users are sorted: the last is the largest
        # (key, index) packed in one int64: a plain sort is the stable argsort, ~2x faster
        packed = np.sort((key << bits) | np.arange(len(ev), dtype=np.int64))
        order, sk = packed & ((1 << bits) - 1), packed >> bits
    else:
        order = np.argsort(key, kind="stable")  # equal keys stay in time order
        sk = key[order]
    run_new = np.r_[True, sk[1:] != sk[:-1]]
    signal = ~noise[order]
    before = np.cumsum(signal) - signal  # signal events before each sorted position
    first_signal = signal & (before - before[run_new][np.cumsum(run_new) - 1] == 0)
    discovery = np.zeros(len(ev), bool)
    discovery[order] = first_signal
    return _Firsts(sk[run_new], order[run_new], discovery)


def _seen(f: _Firsts, users: np.ndarray, items: np.ndarray, before: np.ndarray, n_items: int) -> np.ndarray:
    """Did ``users`` have an event with ``items`` at an index below ``before``? (broadcast)"""
    key = np.asarray(users, dtype=np.int64) * n_items + items
    i = np.minimum(np.searchsorted(f.keys, key), len(f.keys) - 1)
    return (f.keys[i] == key) & (f.first[i] < before)


# ---------------------------------------------------------------- splits

def _rank(groups: np.ndarray, reverse: bool) -> np.ndarray:
    """0-based rank of each element within its run of equal ``groups`` (from the end if reverse)."""
    if not len(groups):
        return groups.astype(np.int64)
    new = np.r_[True, groups[1:] != groups[:-1]]
    starts = np.flatnonzero(new)
    run = np.cumsum(new) - 1
    rank = np.arange(len(groups)) - starts[run]
    if reverse:
        sizes = np.diff(np.r_[starts, len(groups)])
        rank = sizes[run] - 1 - rank
    return rank


def _cap(rank: np.ndarray, k: int) -> np.ndarray:
    return (k == 0) | (rank < k)


def splits(p: TaskProtocol, ev: Events, eligible: np.ndarray, cutoffs,
           with_period: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Split code per eligible event (NONE when not a task), and the training-period mask
    (None unless ``with_period``)."""
    el = np.flatnonzero(eligible)
    code = np.full(len(el), NONE, np.int8)
    if p.split == "leave_last":
        back = _rank(ev.user[el], reverse=True)
        code[back == 0], code[back == 1] = TEST, VALID
        code[(back >= 2) & _cap(back - 2, p.train_tasks_per_user)] = TRAIN
        train_events = None
        if with_period:  # training period: the user's events before their first evaluation target
            first_eval = np.full(len(ev.users), len(ev), np.int64)
            e = el[back <= 1]  # in order: a user's first is where the user changes
            first = np.r_[True, ev.user[e[1:]] != ev.user[e[:-1]]] if len(e) else np.zeros(0, bool)
            first_eval[ev.user[e[first]]] = e[first]
            train_events = np.arange(len(ev)) < first_eval[ev.user]
    else:
        c1, c2 = cutoffs
        ts = ev.timestamp[el]
        period = np.where(ts < c1, TRAIN, np.where(ts < c2, VALID, TEST)).astype(np.int64)
        group = ev.user[el].astype(np.int64) * 3 + period  # contiguous: time is sorted per user
        for name in (TRAIN, VALID, TEST):
            k = p.train_tasks_per_user if name == TRAIN else p.eval_tasks_per_user
            mask = period == name
            code[np.flatnonzero(mask)[_cap(_rank(group[mask], reverse=name == TRAIN), k)]] = name
        train_events = ev.timestamp < c1 if with_period else None
    full = np.full(len(ev), NONE, np.int8)
    full[el] = code
    return full, train_events


# ---------------------------------------------------------------- negatives

def _draw_items(ctx: Context, u: np.ndarray, popularity: bool) -> np.ndarray:
    if popularity:
        return np.minimum(np.searchsorted(ctx.cdf, u), ctx.n_items - 1)
    return (u * ctx.n_items).astype(np.int64)


def _accept(cands: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Per row: the draws that are allowed and the first of their value (draw order kept)."""
    order = np.argsort(cands, axis=1, kind="stable")
    sc = np.take_along_axis(cands, order, axis=1)
    dup_sorted = np.zeros_like(sc, dtype=bool)
    dup_sorted[:, 1:] = sc[:, 1:] == sc[:, :-1]
    dup = np.zeros_like(dup_sorted)
    np.put_along_axis(dup, order, dup_sorted, axis=1)
    return ~bad & ~dup


def _fill(ctx: Context, keys, users, targets, before, firsts, need: int, popularity: bool,
          start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rejection sampling in draw order: ``need`` distinct unseen non-target items per row, after
    the items already in ``start`` (-1 = empty slot); returns (items, ok)."""
    width, drawn = 2 * need + 8, 0
    out = start.copy()
    have = (out >= 0).sum(axis=1)
    while drawn < MAX_ROUNDS * width:  # the first round is narrower: most draws are accepted
        todo = np.flatnonzero(have < need)
        if not len(todo):
            break
        step = min(need + 4 if drawn == 0 else width, MAX_ROUNDS * width - drawn)
        cands = _draw_items(ctx, hashing.uniforms(keys[todo], np.arange(drawn, drawn + step)), popularity)
        drawn += step
        bad = _seen(firsts, users[todo, None], cands, before[todo, None], ctx.n_items) | (cands == targets[todo, None])
        prior = out[todo]
        if (prior >= 0).any():
            bad |= (cands[:, :, None] == prior[:, None, :]).any(axis=2)
        acc = _accept(cands, bad)
        cum = np.cumsum(acc, axis=1)
        ri, ci = np.nonzero(acc & (cum <= (need - have[todo])[:, None]))
        out[todo[ri], have[todo[ri]] + cum[ri, ci] - 1] = cands[ri, ci]
        have[todo] = np.minimum(need, have[todo] + cum[:, -1])
    return out, have >= need


def negatives(ctx: Context, ev: Events, firsts: _Firsts, sel: np.ndarray, pos: np.ndarray,
              ukeys: np.ndarray, start_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n_tasks, N-1) negative item codes and the mask of tasks that got enough."""
    p, need = ctx.protocol, ctx.protocol.n_candidates - 1
    users, targets = ev.user[sel], ev.item[sel].astype(np.int64)
    keys = hashing.task_keys(p.seed, hashing.NEGATIVES, ukeys[users], pos[sel])
    start = np.full((len(sel), need), -1, np.int64)
    if ctx.retriever is not None:
        start = _hard(ctx, ev, firsts, sel, pos, ukeys, start_of, start)
    return _fill(ctx, keys, users, targets, sel, firsts, need, p.negatives != "uniform", start)


def _hard(ctx, ev, firsts, sel, pos, ukeys, start_of, start) -> np.ndarray:
    """Cooccurrence: a random subset of the top ``hard_pool`` retrieved unseen items per task."""
    p, need = ctx.protocol, start.shape[1]
    keys = hashing.task_keys(p.seed, hashing.HARD_POOL, ukeys[ev.user[sel]], pos[sel])
    for k, e in enumerate(sel):
        hist = ev.item[max(start_of[e], e - p.history_len):e].astype(np.int64)
        n_seen = len(np.unique(ev.item[start_of[e]:e]))
        pool = ctx.retriever.retrieve(hist, p.hard_pool + n_seen)
        if len(pool):
            bad = _seen(firsts, ev.user[e], pool, e, ctx.n_items) | (pool == ev.item[e])
            pool = pool[~bad][: p.hard_pool]
        if len(pool):
            pick = np.sort(np.argsort(hashing.uniforms(keys[k:k + 1], np.arange(len(pool)))[0],
                                      kind="stable")[:need])
            start[k, :len(pick)] = pool[pick]
    return start


def shuffle(p: TaskProtocol, targets: np.ndarray, negs: np.ndarray, ukeys: np.ndarray,
            positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidates in a hash-drawn order and the index of the target among them."""
    keys = hashing.task_keys(p.seed, hashing.SHUFFLE, ukeys, positions)
    order = np.argsort(hashing.uniforms(keys, np.arange(p.n_candidates)), axis=1, kind="stable")
    full = np.concatenate([targets[:, None], negs], axis=1)
    return np.take_along_axis(full, order, axis=1), np.argmax(order == 0, axis=1).astype(np.int32)


# ---------------------------------------------------------------- the leakage check, in positions

def _equal_events(ev: Events, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every event equal to an event of ``x`` in (user, item, time): (its index, which x)."""
    u, ts = ev.user, ev.timestamp
    new = np.r_[True, (u[1:] != u[:-1]) | (ts[1:] != ts[:-1])]  # runs of equal (user, time)
    starts = np.flatnonzero(new)
    run = np.cumsum(new) - 1
    lo, hi = starts[run[x]], np.r_[starts[1:], len(ev)][run[x]]
    which = np.repeat(np.arange(len(x)), hi - lo)
    y = np.repeat(lo - np.r_[0, np.cumsum(hi - lo)[:-1]], hi - lo) + np.arange(int((hi - lo).sum()))
    keep = ev.item[y] == ev.item[x[which]]
    return y[keep], which[keep]


def leaks(ev: Events, sel: np.ndarray, split: np.ndarray, hist_start: np.ndarray,
          task_ids: pa.Array) -> list:
    """Rule 2 of leakage.py on a block: a valid/test target event (user, item, time) inside a
    training task (as its target or in its history). Rules 1 and 3 hold by construction and
    are checked on the table. Returns [(rule, first task id, split, count)] or []."""
    train, eval_ = split == TRAIN, split != TRAIN
    if not train.any() or not eval_.any():
        return []
    cover = np.zeros(len(ev) + 1, np.int64)  # events covered by a training task's [history, target]
    np.add.at(cover, hist_start[train], 1)
    np.add.at(cover, sel[train] + 1, -1)
    covered = np.cumsum(cover)[:-1] > 0
    x = sel[eval_]
    y, which = _equal_events(ev, x)
    bad = np.zeros(len(x), bool)
    bad[which[covered[y]]] = True
    if not bad.any():
        return []
    first = np.flatnonzero(eval_)[np.flatnonzero(bad)[0]]
    return [("train", str(task_ids[int(first)]), SPLIT_NAMES[split[first]], int(bad.sum()))]


# ---------------------------------------------------------------- the block's tasks

def _dict_list(offsets: np.ndarray, codes: np.ndarray, dictionary: pa.Array) -> pa.ListArray:
    codes = codes.astype(np.int32, copy=False)
    # no 20M-entry mask when no code is -1 (items never are): min() allocates nothing
    idx = pa.array(codes, mask=codes < 0) if len(codes) and codes.min() < 0 else pa.array(codes)
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.DictionaryArray.from_arrays(idx, dictionary))


def _num_list(offsets: np.ndarray, values: np.ndarray | None, typ: pa.DataType) -> pa.ListArray:
    """``values`` None: every value is null (a column the log does not have)."""
    if values is None:
        arr = pa.nulls(int(offsets[-1]), typ)
    else:
        arr = pa.array(values, typ, from_pandas=True) if typ == pa.float64() else pa.array(values, typ)
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), arr)


def all_nan(values: np.ndarray) -> bool:
    """Every value unknown (NaN): cheap when the first one is known."""
    return bool(len(values)) and bool(np.isnan(values[0])) and bool(np.isnan(values).all())


def _table(ctx: Context, ev: Events, sel, pos, split, hist_start, cands, labels, discovery) -> pa.Table:
    from .writer import WRITE_SCHEMA
    lengths = sel - hist_start
    offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    hist = np.repeat(hist_start - offsets[:-1], lengths) + np.arange(offsets[-1])
    user_ids = ev.users.take(pa.array(ev.user[sel]))
    n = ctx.protocol.n_candidates
    cols = [
        pc.binary_join_element_wise(user_ids, pc.cast(pa.array(pos[sel]), pa.string()), ":"),
        user_ids,
        pa.array(SPLIT_NAMES).take(pa.array(split[sel].astype(np.int32))),
        pa.array(ev.timestamp[sel], pa.int64()),
        ctx.item_ids.take(pa.array(ev.item[sel])),
        pa.array(discovery[sel], pa.bool_()),
        pa.array(labels, pa.int32()),
        _dict_list(np.arange(0, cands.size + 1, n), cands.ravel(), ctx.item_ids),
        _dict_list(offsets, ev.item[hist], ctx.item_ids),
        _num_list(offsets, ev.timestamp[hist], pa.int64()),
        _dict_list(offsets, ev.engagement[hist], ev.engagements),
        _num_list(offsets, None if all_nan(ev.duration) else ev.duration[hist], pa.float64()),
        _dict_list(offsets, ev.device[hist], ev.devices),
        _num_list(offsets, None if all_nan(ev.rating) else ev.rating[hist], pa.float64()),
    ]
    return pa.Table.from_arrays(cols, schema=WRITE_SCHEMA)


def digest(ev: Events, ukeys: np.ndarray) -> int:
    """Order-free digest of the block's events (user, time, item, engagement): blocks add up."""
    ekeys = hashing.string_keys(ev.engagements.to_pylist())
    h = hashing.mix(ukeys[ev.user] ^ hashing.mix(ev.timestamp.astype(np.uint64) ^ (ev.item.astype(np.uint64) << np.uint64(34)))
                    ^ ekeys[ev.engagement])
    return int(h.sum(dtype=np.uint64))


def build_block(ev: Events, ctx: Context) -> Block:
    """All tasks of a block of complete users, in (user, position) order."""
    p = ctx.protocol
    block = Block(None, users=len(ev.users))
    if not len(ev):
        return block
    t = time.thread_time()
    ukeys = hashing.string_keys(ev.users.to_pylist())
    block.digest = digest(ev, ukeys)
    t = _lap("user keys + digest", t)
    start_of, pos = _layout(ev)
    noise = noise_mask(ev)
    eligible = _targets(ev, noise, pos, p.min_history)
    split, _ = splits(p, ev, eligible, ctx.cutoffs, with_period=False)
    sel = np.flatnonzero(split != NONE)
    t = _lap("layout, targets, splits", t)
    firsts = _firsts(ev, noise, ctx.n_items)
    t = _lap("first occurrences", t)
    negs, ok = negatives(ctx, ev, firsts, sel, pos, ukeys, start_of)
    block.dropped = int((~ok).sum())
    sel, negs = sel[ok], negs[ok]
    cands, labels = shuffle(p, ev.item[sel].astype(np.int64), negs, ukeys[ev.user[sel]], pos[sel])
    t = _lap("negatives + shuffle", t)
    hist_start = np.maximum(start_of[sel], sel - p.history_len)
    block.table = _table(ctx, ev, sel, pos, split, hist_start, cands, labels, firsts.discovery)
    t = _lap("task table (Arrow)", t)
    block.leaks = leaks(ev, sel, split[sel], hist_start, block.table["task_id"])
    for code, name in enumerate(SPLIT_NAMES):
        block.counts[name] = int((split[sel] == code).sum())
    block.users_with_tasks = int(len(np.unique(ev.user[sel])))
    _lap("leakage check", t)
    return block


def training_stats(ev: Events, ctx: Context, pairs: bool) -> tuple[np.ndarray, object]:
    """Item counts of the block's training-period events (and co-occurrence pair counts)."""
    if not len(ev):
        return np.zeros(ctx.n_items, np.int64), None
    _, pos = _layout(ev)
    eligible = _targets(ev, noise_mask(ev), pos, ctx.protocol.min_history)
    _, train_events = splits(ctx.protocol, ev, eligible, ctx.cutoffs)
    items, users = ev.item[train_events], ev.user[train_events]
    counts = np.bincount(items, minlength=ctx.n_items).astype(np.int64)
    if not pairs:
        return counts, None
    bounds = np.flatnonzero(np.r_[True, users[1:] != users[:-1], True])
    seqs = [items[a:b].astype(np.int64) for a, b in zip(bounds[:-1], bounds[1:])]
    from .cooccurrence import CoOccurrence
    return counts, CoOccurrence(ctx.n_items).pair_counts(seqs)
