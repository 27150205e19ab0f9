"""Number formatting shared by the HTML and Markdown renderers, so both print the same digits.

Missing values (None, NaN, inf, a missing key) print as an em dash; negative numbers use the
minus sign (U+2212) so signed columns line up.
"""

from __future__ import annotations

import math
from typing import Any

DASH = "—"
MINUS = "−"


def missing(value: Any) -> bool:
    return not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value)


def num(value: Any, digits: int = 3) -> str:
    return DASH if missing(value) else f"{value:.{digits}f}"


def signed(value: Any, digits: int = 1) -> str:
    """'+5.3', '−1.1'; only an exact zero is unsigned, so '+0.0' still tells a CI bound is above 0."""
    if missing(value):
        return DASH
    if value == 0:
        return f"{0:.{digits}f}"
    return ("+" if value > 0 else MINUS) + f"{abs(value):.{digits}f}"


def pair(row: dict, key: str) -> tuple[Any, Any]:
    """The (lo, hi) of a CI field, (None, None) when absent or malformed."""
    value = row.get(key)
    return (value[0], value[1]) if isinstance(value, (list, tuple)) and len(value) == 2 else (None, None)


def with_ci(value: Any, lo: Any, hi: Any, fmt=num) -> str:
    """'0.412 [0.371, 0.455]'; the bracket is left out when the CI is unknown."""
    if missing(value):
        return DASH
    if missing(lo) and missing(hi):
        return fmt(value)
    return f"{fmt(value)} [{fmt(lo)}, {fmt(hi)}]"


def recall(row: dict) -> str:
    return with_ci(row.get("recall@1_discovery"), *pair(row, "recall@1_discovery_ci95"))


def delta(row: dict) -> str:
    return with_ci(row.get("delta_pct"), *pair(row, "delta_pct_ci95"), fmt=signed)


def delta_vs_warmstart(row: dict) -> str:
    return with_ci(row.get("delta_vs_warmstart_pct"), *pair(row, "delta_vs_warmstart_pct_ci95"), fmt=signed)


def significance(row: dict) -> str:
    """'pos' / 'neg' when the Δ% CI excludes 0, else ''."""
    lo, hi = pair(row, "delta_pct_ci95")
    if missing(row.get("delta_pct")) or missing(lo) or missing(hi):
        return ""
    return "pos" if lo > 0 else "neg" if hi < 0 else ""


def share(value: Any) -> str:
    """A share in [0, 1] as a percentage: '42%'."""
    return DASH if missing(value) else f"{100 * value:.0f}%"


def count(value: Any) -> str:
    return DASH if missing(value) else f"{int(value):,}"


def duration(seconds: Any) -> str:
    """'81 s', '12 min 05 s', '1 h 02 min'."""
    if missing(seconds):
        return DASH
    s = round(seconds)
    if s < 90:
        return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"
