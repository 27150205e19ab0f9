"""Results as a printed table and a JSON document."""

from __future__ import annotations

from typing import Sequence

from rich.console import Console
from rich.table import Table

from .loop import EvalResult


def results_json(results: Sequence[EvalResult], baseline: EvalResult | None = None, meta: dict | None = None) -> dict:
    rows = []
    for r in results:
        m, lo, hi = r.ci("hr@1", discovery_only=True)
        row = {"system": r.system, **r.summary, "recall@1_discovery_ci95": [lo, hi]}
        _, lo1, hi1 = r.ci("hr@1", discovery_only=False)
        row["recall@1_ci95"] = [lo1, hi1]
        if baseline is not None and r is not baseline:
            d, dlo, dhi = r.delta_over(baseline)
            row.update({"delta_pct_vs": baseline.system, "delta_pct": d, "delta_pct_ci95": [dlo, dhi]})
        rows.append(row)
    return {"results": rows, **({"meta": meta} if meta else {})}


def print_table(doc: dict, title: str = "", console: Console | None = None) -> None:
    """CR: mean compression ratio of the system's verbalizer (characters vs the template)."""
    fmt = lambda v: "—" if v != v else f"{v:.3f}"  # noqa: E731  (v != v: NaN, e.g. no non-Discovery tasks)
    table = Table(title=title)
    for col in ("system", "R@1 Disc [95% CI]", "Δ% [95% CI]", "R@1 / HR@1", "R@1 non-Disc", "NDCG@10", "MRR",
                "Valid", "CR", "n (Disc)"):
        table.add_column(col, justify="left" if col == "system" else "right")
    for r in doc["results"]:
        lo, hi = r["recall@1_discovery_ci95"]
        delta = (f"{r['delta_pct']:+.1f} [{r['delta_pct_ci95'][0]:+.1f}, {r['delta_pct_ci95'][1]:+.1f}]"
                 if "delta_pct" in r else "—")
        table.add_row(r["system"], f"{fmt(r['recall@1_discovery'])} [{fmt(lo)}, {fmt(hi)}]", delta,
                      fmt(r["hr@1"]), fmt(r["recall@1_non_discovery"]), fmt(r["ndcg@10"]), fmt(r["mrr"]),
                      fmt(r["valid_ratio"]), fmt(r["compression_ratio"]) if r.get("compression_ratio") is not None else "—",
                      f"{r['n']} ({r['n_discovery']})")
    console = console or Console()
    if not console.is_terminal:  # logs and pipes: do not wrap the table to 80 columns
        console.width = 160
    console.print(table)
