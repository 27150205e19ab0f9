"""Compression ratio: verbalized length / template length (paper section 7 reports 0.42 at 8B).

Measured in characters always, and in reasoner tokens when a tokenizer is given."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def compression_ratio(verbalized: Sequence[str], template: Sequence[str], tokenizer=None) -> dict[str, np.ndarray]:
    chars = np.array([len(v) / max(len(t), 1) for v, t in zip(verbalized, template)])
    out = {"chars": chars}
    if tokenizer is not None:
        n = lambda texts: np.array([len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]])  # noqa: E731
        out["tokens"] = n(verbalized) / np.maximum(n(template), 1)
    return out
