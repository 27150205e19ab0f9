r"""Compression ratio -- verbalized length / template length (paper section 7 reports 0.42 at 8B) --
and the length reward's plateau over it (paper Figure 2).

The one definition every stage uses: the Stage 1 length reward, the evaluation table's CR, the
reproduce analysis and the report's plateau figure. Measured in characters always, and in reasoner
tokens when a tokenizer is given. A bottom module: numbers in, numbers out.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

#: the length reward's plateau [low, high] of the compression ratio (the paper's 0.3 and 0.7)
PLATEAU_LOW, PLATEAU_HIGH = 0.3, 0.7


def char_ratios(lengths: Sequence[float], template_lengths: Sequence[float]) -> np.ndarray:
    """Per text: its length over the template's (a template of length 0 counts as 1)."""
    return np.asarray(lengths, float) / np.maximum(np.asarray(template_lengths, float), 1)


def compression_ratio(verbalized: Sequence[str], template: Sequence[str], tokenizer=None) -> dict[str, np.ndarray]:
    out = {"chars": char_ratios([len(v) for v in verbalized], [len(t) for t in template])}
    if tokenizer is not None:
        n = lambda texts: np.array([len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]])  # noqa: E731
        out["tokens"] = n(verbalized) / np.maximum(n(template), 1)
    return out


def plateau(ratio: float, low: float = PLATEAU_LOW, high: float = PLATEAU_HIGH, slope_low: float | None = None,
            slope_high: float | None = None) -> float:
    r"""Length reward (paper Figure 2): 1 for a compression ratio in [low, high], falling off
    linearly outside, clipped at 0.

    .. math:: r^{len}(c) = \begin{cases} \max(0, 1 - s_l (low - c)) & c < low \\ 1 & low \le c \le high \\
              \max(0, 1 - s_h (c - high)) & c > high \end{cases}

    Default slopes reach 0 at c = 0 (:math:`s_l = 1/low`) and at c = 1, no compression
    (:math:`s_h = 1/(1-high)`).
    """
    s_l = slope_low if slope_low is not None else 1.0 / low
    s_h = slope_high if slope_high is not None else 1.0 / (1.0 - high)
    if ratio < low:
        return max(0.0, 1.0 - s_l * (low - ratio))
    if ratio > high:
        return max(0.0, 1.0 - s_h * (ratio - high))
    return 1.0
