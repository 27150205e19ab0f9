"""Item co-occurrence: the retriever of hard negatives and the item-kNN baseline share it.

``sim(a, b) = c(a, b) / sqrt(n(a) n(b))`` (cosine), where ``c(a, b)`` counts how often a and b
occur within ``window`` consecutive events of the same user and ``n(x)`` is x's event count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # scipy is imported when a model is made, not with the package (the CLI's start)
    import scipy.sparse as sp


class CoOccurrence:
    def __init__(self, n_items: int, window: int = 5):
        import scipy.sparse as sp
        self.n_items, self.window = n_items, window
        self.sim: sp.csr_matrix = sp.csr_matrix((n_items, n_items))

    def fit(self, sequences: list[np.ndarray]) -> "CoOccurrence":
        """``sequences``: per user, chronological int item codes in ``[0, n_items)``."""
        return self.fit_counts(*self.pair_counts(sequences))

    def pair_counts(self, sequences: list[np.ndarray]) -> tuple[sp.csr_matrix, np.ndarray]:
        """(co-occurrence counts, item counts) of ``sequences``; sums over parts fit the whole."""
        import scipy.sparse as sp
        rows, cols = [], []
        for seq in sequences:
            for lag in range(1, self.window + 1):
                if len(seq) > lag:
                    rows += [seq[:-lag], seq[lag:]]
                    cols += [seq[lag:], seq[:-lag]]
        n = self.n_items
        if rows:
            r, c = np.concatenate(rows), np.concatenate(cols)
            keep = r != c
            counts = sp.csr_matrix((np.ones(keep.sum()), (r[keep], c[keep])), shape=(n, n))
            counts.sum_duplicates()
        else:
            counts = sp.csr_matrix((n, n))
        freq = np.bincount(np.concatenate(sequences) if sequences else np.zeros(0, int), minlength=n)
        return counts, freq

    def fit_counts(self, counts: sp.csr_matrix, freq: np.ndarray) -> "CoOccurrence":
        import scipy.sparse as sp
        inv = sp.diags(1.0 / np.sqrt(np.maximum(freq, 1)))
        self.sim = (inv @ counts @ inv).tocsr()
        return self

    def score(self, history: np.ndarray, candidates: np.ndarray, last: int = 20) -> np.ndarray:
        """Sum of similarities between each candidate and the last ``last`` history items."""
        recent = history[-last:]
        recent = recent[(recent >= 0) & (recent < self.n_items)]
        out = np.zeros(len(candidates))
        ok = (candidates >= 0) & (candidates < self.n_items)
        if len(recent) and ok.any():
            out[ok] = np.asarray(self.sim[recent][:, candidates[ok]].sum(axis=0)).ravel()
        return out

    def retrieve(self, history: np.ndarray, k: int, last: int = 20) -> np.ndarray:
        """Top-k items by summed similarity to the recent history (may return fewer)."""
        recent = history[-last:]
        if len(recent) == 0:
            return np.zeros(0, dtype=np.int64)
        scores = np.asarray(self.sim[recent].sum(axis=0)).ravel()
        nz = np.flatnonzero(scores)
        if len(nz) > k:
            nz = nz[np.argpartition(-scores[nz], k)[:k]]
        return nz[np.argsort(-scores[nz], kind="stable")]
