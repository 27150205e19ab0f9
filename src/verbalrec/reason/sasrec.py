"""SASRec (Kang & McAuley, 2018): a causal self-attention next-item model, as a Reasoner.

The model embeds a user's last ``max_len`` items (item embedding + learned position
embedding), runs ``layers`` causal self-attention blocks (each position attends only to itself
and earlier, non-padding positions), and scores an item by the dot product of the last
position's output with that item's embedding -- the same table as the input (shared). It is
trained for next-item prediction at every position of each user's training sequence, with a
full softmax over the vocabulary ("ce") or the paper's one-sampled-negative BCE ("bce").

Vocabulary: index 0 is padding; the items of the training sequences and of the catalog get
the other indices, so catalog items never seen in training still have a (random-init)
embedding. History items outside the vocabulary are dropped; candidates outside it score
``UNKNOWN_SCORE`` (finite, below every known item).
"""

from __future__ import annotations

import math
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..errors import InputError, LeakageError
from ..tasks.schema import Task, TaskSet, training_sequences
from .base import Scores

UNKNOWN_SCORE = -1e9
LOSSES = ("ce", "bce")


@dataclass
class SASRecConfig:
    """SASRec size and training settings; defaults fit ML-100k in ~1-2 CPU minutes."""

    hidden: int = field(default=64, metadata={"help": "embedding and hidden size"})
    layers: int = field(default=2, metadata={"help": "number of self-attention blocks"})
    heads: int = field(default=1, metadata={"help": "attention heads (must divide hidden)"})
    max_len: int = field(default=50, metadata={"help": "most recent items the model reads"})
    dropout: float = field(default=0.2, metadata={"help": "dropout rate on embeddings and blocks"})
    pre_ln: bool = field(default=True, metadata={"help": "layer norm before (True) or after each sub-layer"})
    epochs: int = field(default=20, metadata={"help": "passes over the training sequences"})
    batch_size: int = field(default=128, metadata={"help": "sequence windows per optimizer step"})
    lr: float = field(default=3e-3, metadata={"help": "Adam learning rate"})
    seed: int = field(default=0, metadata={"help": "seed for init, dropout, shuffling and negatives"})
    loss: str = field(default="ce", metadata={"help": f"one of {LOSSES}: full softmax, or 1 sampled negative"})
    device: str = field(default="cpu", metadata={"help": "torch device, e.g. cpu or cuda"})
    threads: int = field(default=0, metadata={
        "help": "torch CPU threads while fitting/scoring, restored after; 0 keeps torch's setting"})

    def __post_init__(self):
        for name in ("hidden", "layers", "heads", "max_len", "epochs", "batch_size", "threads"):
            lowest = 0 if name == "threads" else 1
            if not isinstance(getattr(self, name), int) or getattr(self, name) < lowest:
                raise InputError(f"{name} must be an integer >= {lowest}, got {getattr(self, name)!r}",
                                 field=name, fix=f"set {name} >= {lowest}")
        if self.hidden % self.heads:
            raise InputError(f"heads ({self.heads}) must divide hidden ({self.hidden})", field="heads",
                             fix="use e.g. heads 1 or 2 with hidden 64")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {self.dropout}", field="dropout", fix="use e.g. 0.2")
        if not self.lr > 0:
            raise InputError(f"lr must be positive, got {self.lr}", field="lr", fix="use e.g. 1e-3")
        if self.loss not in LOSSES:
            raise InputError(f"loss '{self.loss}' is unknown", field="loss", fix=f"use one of {LOSSES}")
        try:
            torch.device(self.device)
        except RuntimeError:
            raise InputError(f"device '{self.device}' is not a torch device", field="device",
                             fix="use cpu or cuda") from None


@contextmanager
def _threads(n: int):
    # On small CPUs shared with other jobs, 1 thread was 3-10x faster than 2 for these small ops.
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n:
            torch.set_num_threads(old)


def _dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    # torch's CPU dropout (bernoulli_) is ~10x slower than a rand mask at these sizes.
    return x * (torch.rand_like(x) >= p) / (1 - p) if training and p > 0 else x


class _Block(nn.Module):
    """Causal self-attention, then a point-wise feed-forward; each a residual sub-layer."""

    def __init__(self, cfg: SASRecConfig):
        super().__init__()
        d, self.p, self.pre_ln = cfg.hidden, cfg.dropout, cfg.pre_ln
        self.attn = nn.MultiheadAttention(d, cfg.heads, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))
        self.norms = nn.ModuleList([nn.LayerNorm(d), nn.LayerNorm(d)])

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        subs = (lambda y: self.attn(y, y, y, attn_mask=mask, need_weights=False)[0], self.ff)
        for sub, norm in zip(subs, self.norms):
            if self.pre_ln:
                x = x + _dropout(sub(norm(x)), self.p, self.training)
            else:
                x = norm(x + _dropout(sub(x), self.p, self.training))
        return x


class _Net(nn.Module):
    def __init__(self, n_items: int, cfg: SASRecConfig):
        super().__init__()
        self.cfg, self.scale = cfg, math.sqrt(cfg.hidden)
        self.item = nn.Embedding(n_items, cfg.hidden, padding_idx=0)
        with torch.no_grad():  # rows of norm ~1, so dot-product logits start near 0
            self.item.weight.normal_(std=cfg.hidden ** -0.5)[0].zero_()
        self.pos = nn.Embedding(cfg.max_len, cfg.hidden)
        self.blocks = nn.ModuleList([_Block(cfg) for _ in range(cfg.layers)])
        # Pre-LN leaves the residual stream un-normalised, hence a final norm (as in the paper).
        self.norm = nn.LayerNorm(cfg.hidden) if cfg.pre_ln else nn.Identity()

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, L) left-padded item indices -> (B, L, hidden) states; position L-1 is the newest item."""
        n = seq.shape[1]
        keep = seq != 0
        x = self.item(seq) * self.scale + self.pos.weight[-n:]
        x = _dropout(x, self.cfg.dropout, self.training) * keep.unsqueeze(-1)
        causal = torch.ones(n, n, dtype=torch.bool, device=seq.device).tril()
        # Attend to earlier real items; a position may always see itself, so all-padding rows stay finite.
        allowed = (causal & keep.unsqueeze(1)) | torch.eye(n, dtype=torch.bool, device=seq.device)
        mask = (~allowed).repeat_interleave(self.cfg.heads, dim=0)
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)


class SASRecRanker:
    """Reasoner wrapping SASRec; ``fit`` must get the train split only, ``score`` ignores contexts."""

    name = "sasrec"

    def __init__(self, config: SASRecConfig | None = None):
        self.config = config or SASRecConfig()
        self.index: dict[str, int] = {}
        self.net: _Net | None = None
        self.losses: list[float] = []

    def fit(self, train: TaskSet) -> "SASRecRanker":
        splits = set(train.table["split"].to_pylist())
        if splits - {"train"}:
            raise LeakageError(f"fit got tasks of split(s) {sorted(splits - {'train'})}", field="split",
                               fix="pass task_set.split('train')")
        with _threads(self.config.threads):
            return self._fit(train)

    def _fit(self, train: TaskSet) -> "SASRecRanker":
        cfg, dev = self.config, torch.device(self.config.device)
        torch.manual_seed(cfg.seed)
        seqs = training_sequences(train)
        catalog = train.catalog["item_id"].astype(str).tolist() if "item_id" in train.catalog else []
        vocab = dict.fromkeys([i for s in seqs.values() for i in s] + catalog)
        self.index = {item: k + 1 for k, item in enumerate(vocab)}
        data = torch.tensor([w for s in seqs.values() for w in _windows([self.index[i] for i in s], cfg.max_len)],
                            dtype=torch.long).reshape(-1, cfg.max_len + 1)
        self.net = _Net(len(self.index) + 1, cfg).to(dev)
        opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, betas=(0.9, 0.98))
        gen = torch.Generator().manual_seed(cfg.seed)
        self.net.train()
        bar = tqdm(range(cfg.epochs), desc="sasrec fit", disable=not sys.stderr.isatty(), leave=False)
        for _ in bar:
            total = 0.0
            for idx in torch.randperm(len(data), generator=gen).split(cfg.batch_size):
                batch = data[idx].to(dev)
                loss = self._loss(self.net(batch[:, :-1]), batch[:, 1:], gen)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            self.losses.append(total / max(len(data), 1))
            bar.set_postfix(loss=f"{self.losses[-1]:.3f}")
        self.net.eval()
        return self

    def _loss(self, states: torch.Tensor, targets: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        real = targets != 0
        h, pos = states[real], targets[real]
        table = self.net.item.weight
        if self.config.loss == "ce":
            logits = h @ table.T
            logits[:, 0] = -torch.inf  # padding is never a next item
            return F.cross_entropy(logits, pos)
        # The paper's loss: one uniform negative per position (may rarely hit a seen item).
        neg = torch.randint(1, len(table), pos.shape, generator=gen).to(pos.device)
        return -(F.logsigmoid((h * table[pos]).sum(-1)) + F.logsigmoid(-(h * table[neg]).sum(-1))).mean()

    def score(self, tasks: Sequence[Task], contexts: Sequence[str] = ()) -> Scores:
        if self.net is None:
            raise RuntimeError("SASRecRanker.score called before fit")
        with _threads(self.config.threads):
            parts = [self._score_batch(tasks[s:s + 256]) for s in range(0, len(tasks), 256)]
        return Scores.concat(parts) if parts else Scores(np.zeros((0, 0)), np.zeros(0, bool))

    @torch.no_grad()
    def _score_batch(self, tasks: Sequence[Task]) -> Scores:
        L, dev = self.config.max_len, torch.device(self.config.device)
        hist = [[self.index[i] for i in t.hist_item if i in self.index][-L:] for t in tasks]
        seq = torch.tensor([[0] * (L - len(h)) + h for h in hist], dtype=torch.long, device=dev)
        user = self.net(seq)[:, -1]  # (B, hidden): the state after the newest item
        width = max(len(t.candidates) for t in tasks)
        cand = torch.tensor([[self.index.get(c, 0) for c in t.candidates] + [0] * (width - len(t.candidates))
                             for t in tasks], dtype=torch.long, device=dev)
        values = torch.einsum("bh,bnh->bn", user, self.net.item(cand)).double().cpu().numpy()
        values[cand.cpu().numpy() == 0] = UNKNOWN_SCORE
        for row, t in enumerate(tasks):
            values[row, len(t.candidates):] = -np.inf  # padding columns, as Scores expects
        return Scores(values, np.ones(len(tasks), bool))


def _windows(seq: list[int], max_len: int) -> list[list[int]]:
    """Cut a sequence, from its end, into left-padded windows of max_len + 1 sharing one item,
    so every item after the first is a training target exactly once."""
    out = []
    for end in range(len(seq), 1, -max_len):
        w = seq[max(0, end - max_len - 1):end]
        out.append([0] * (max_len + 1 - len(w)) + w)
    return out
