"""Task protocols: how many history events, how many candidates, which negatives, which split."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from ..errors import InputError

NEGATIVE_STRATEGIES = ("uniform", "popularity", "cooccurrence")
SPLIT_MODES = ("leave_last", "time")


@dataclass(frozen=True)
class TaskProtocol:
    """A reranking protocol. Presets: ``paper`` (H=100, N=10) and ``llara`` (H=10, N=20)."""

    name: str = field(default="paper", metadata={"help": "protocol name, saved with the tasks"})
    history_len: int = field(default=100, metadata={"help": "H: at most this many interactions before the target"})
    n_candidates: int = field(default=10, metadata={"help": "N: the target plus N-1 negatives"})
    negatives: str = field(default="uniform", metadata={
        "help": "uniform: unseen items uniformly; popularity: unseen items by training popularity; "
                "cooccurrence: hard negatives from a co-occurrence retriever over training events"})
    split: str = field(default="leave_last", metadata={
        "help": "leave_last: per user the last target is test, the one before valid, earlier ones train; "
                "time: global time cut-offs at time_fractions"})
    time_fractions: tuple[float, float, float] = field(default=(0.8, 0.1, 0.1), metadata={
        "help": "train / valid / test shares of the event timeline (split=time)"})
    train_tasks_per_user: int = field(default=10, metadata={
        "help": "most recent training targets kept per user (0 = all)"})
    eval_tasks_per_user: int = field(default=1, metadata={
        "help": "first valid/test targets kept per user in the time split (0 = all)"})
    min_history: int = field(default=1, metadata={"help": "a target needs at least this many earlier events"})
    popularity_power: float = field(default=1.0, metadata={"help": "popularity negatives: P(item) ~ count^power"})
    hard_pool: int = field(default=50, metadata={"help": "cooccurrence negatives: sampled from this many top retrieved"})
    seed: int = field(default=0, metadata={"help": "seed of negative sampling and shuffling"})

    def __post_init__(self):
        def bad(field_name, fix):
            raise InputError(f"invalid value {getattr(self, field_name)!r}", field=field_name, fix=fix)
        if self.history_len < 1:
            bad("history_len", "use H >= 1")
        if self.n_candidates < 2:
            bad("n_candidates", "use N >= 2")
        if self.negatives not in NEGATIVE_STRATEGIES:
            bad("negatives", f"use one of {NEGATIVE_STRATEGIES}")
        if self.split not in SPLIT_MODES:
            bad("split", f"use one of {SPLIT_MODES}")
        if len(self.time_fractions) != 3 or abs(sum(self.time_fractions) - 1) > 1e-6 or min(self.time_fractions) <= 0:
            bad("time_fractions", "three positive shares summing to 1, e.g. 0.8,0.1,0.1")
        if self.train_tasks_per_user < 0 or self.eval_tasks_per_user < 0:
            bad("train_tasks_per_user", "use 0 (all) or a positive count")
        if self.min_history < 1:
            bad("min_history", "use >= 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TaskProtocol":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"unknown protocol field(s) {sorted(unknown)}", field=sorted(unknown)[0],
                             fix=f"use only {sorted(known)}")
        data = dict(data)
        if "time_fractions" in data:
            data["time_fractions"] = tuple(data["time_fractions"])
        return cls(**data)


def check_catalog_size(protocol: TaskProtocol, n_items: int) -> None:
    """N candidates are N distinct items: a catalog with fewer cannot give one task."""
    if protocol.n_candidates > n_items:
        raise InputError(f"{protocol.n_candidates} candidates per task, but the catalog has only {n_items} items",
                         field="n_candidates", fix=f"use --n-candidates {n_items} or fewer (a bigger catalog "
                         "also works)")


def check_kept(counts: dict, dropped: int, protocol: TaskProtocol) -> None:
    """A build that keeps no test task is a failure, not an empty success."""
    if counts.get("test", 0) == 0:
        raise InputError(f"no test task kept: {dropped} targets were dropped because their user had not seen "
                         f"{protocol.n_candidates - 1} other items (the negatives must be unseen)",
                         field="n_candidates", fix="lower --n-candidates, or use logs with more items per user")


def no_test_tasks(protocol: TaskProtocol) -> InputError:
    """No user has a target after ``min_history`` events; the advice fits where min_history is."""
    fix = "use logs with more events per user"
    if protocol.min_history > 1:
        fix += f", or lower --min-history (now {protocol.min_history}, at least 1)"
    return InputError(f"no test tasks: no user has a target after {protocol.min_history} earlier "
                      f"event{'s' if protocol.min_history > 1 else ''}", field="min_history", fix=fix)


PRESETS = {
    "paper": TaskProtocol(),
    # LLaRA (Liao et al., 2024): last-10 history, 20 candidates (uniform unseen), chronological 8:1:1.
    "llara": TaskProtocol(name="llara", history_len=10, n_candidates=20, split="time",
                          train_tasks_per_user=0, eval_tasks_per_user=0),
}


def preset(name: str, **overrides) -> TaskProtocol:
    if name not in PRESETS:
        raise InputError(f"unknown protocol preset '{name}'", field="preset", fix=f"use one of {sorted(PRESETS)}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})
