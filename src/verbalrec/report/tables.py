"""The report's tables as plain cell text, built once and rendered by both the HTML and Markdown writers.

Cells are unescaped strings; each renderer escapes for its own format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from . import fmt

SIG_CLASS = {"pos": "sig-pos", "neg": "sig-neg", "": ""}


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[dict], str]
    kind: str = "num"       # "num": right-aligned figures; "code": an identifier, kept on one line; "": prose
    optional: bool = False  # dropped when every row shows "—" or nothing


@dataclass(frozen=True)
class Table:
    id: str
    title: str
    caption: str
    headers: list[str]
    kinds: list[str]        # per column, as Column.kind
    rows: list[list[str]]
    row_classes: list[str] = field(default_factory=list)  # "sig-pos" / "sig-neg" / ""


RESULT_COLUMNS = [
    Column("Configuration", lambda r: str(r["label"]), kind=""),
    Column("System", lambda r: str(r["system"]), kind="code"),
    Column("Recall@1 Disc. [95% CI]", fmt.recall),
    Column("Δ% [95% CI]", fmt.delta, optional=True),  # classical baselines have no Δ%
    Column("Paper Δ%", lambda r: fmt.signed(r.get("paper_delta_pct")), optional=True),
    Column("Δ% vs warm start", fmt.delta_vs_warmstart, optional=True),  # Stage 2 rows: the same Reasoner before
    Column("NDCG@10", lambda r: fmt.num(r.get("ndcg@10"))),
    Column("MRR", lambda r: fmt.num(r.get("mrr"))),
    Column("Valid", lambda r: fmt.num(r.get("valid_ratio"))),
    Column("CR", lambda r: fmt.num(r.get("compression_ratio"), 2), optional=True),
    Column("Profile chars", lambda r: fmt.num(r.get("profile_chars"), 0), optional=True),
    Column("n (Disc.)", lambda r: f"{fmt.count(r.get('n'))} ({fmt.count(r.get('n_discovery'))})"),
    Column("Note", lambda r: str(r.get("note") or ""), kind="", optional=True),
]

ANALYSIS_COLUMNS = [
    Column("Verbalizer", lambda a: str(a["name"]), kind=""),
    Column("n", lambda a: fmt.count(a.get("n"))),
    Column("CR mean", lambda a: fmt.num(a.get("compression_ratio_mean"), 2)),
    Column("History titles kept", lambda a: fmt.share(a.get("history_coverage")), optional=True),
    Column("Drops IDs", lambda a: fmt.share(a.get("drop_ids"))),
    Column("Aggregates", lambda a: fmt.share(a.get("aggregate"))),
    Column("Summarizes", lambda a: fmt.share(a.get("summary"))),
    Column("Noise removed", lambda a: fmt.share(a.get("noise_removed"))),
    Column("Taste mentioned", lambda a: fmt.share(a.get("taste_mentioned"))),
]

STEP_COLUMNS = [
    Column("Step", lambda s: str(s["name"]), kind=""),
    Column("Wall time", lambda s: fmt.duration(s.get("wall_s"))),
    Column("Cached", lambda s: "yes" if s.get("cached") else "no", kind=""),
]


def _is_blank(cell: str) -> bool:
    return cell.strip() in ("", fmt.DASH)


def make_table(id: str, title: str, caption: str, columns: list[Column], items: list[dict],
               row_class: Callable[[dict], str] = lambda _: "") -> Table:
    cells = [[col.cell(item) for col in columns] for item in items]
    keep = [i for i, col in enumerate(columns)
            if not col.optional or any(not _is_blank(row[i]) for row in cells)]
    return Table(id, title, caption, [columns[i].header for i in keep], [columns[i].kind for i in keep],
                 [[row[i] for i in keep] for row in cells], [row_class(item) for item in items])


def result_table(id: str, title: str, caption: str, rows: list[dict]) -> Table:
    return make_table(id, title, caption, RESULT_COLUMNS, rows, lambda r: SIG_CLASS[fmt.significance(r)])


def analysis_table(analysis: dict) -> Table:
    items = [{"name": name, **stats} for name, stats in analysis.items()]
    return make_table("analysis", "Analysis of verbalizations",
                      "Share of a verbalizer's outputs showing each behaviour (paper §7); "
                      "CR = verbalized / template characters; — = not measurable on this data.",
                      ANALYSIS_COLUMNS, items)


def build_tables(doc: dict) -> dict[str, Table]:
    """Every table of the report, keyed by its section id."""
    tables = {
        "table1": result_table("table1", "Table 1 — Main results",
                               "Recall@1 on Discovery items (targets the user has not interacted with); "
                               "Δ% over the template baseline.", doc["table1"]),
        "table2": result_table("table2", "Table 2 — Ablations",
                               "Reasoner trained on raw vs verbalized interactions, ranking reward, "
                               "no length reward (α = 1).", doc["table2"]),
        "baselines": result_table("baselines", "Classical baselines",
                                  "Rankers that read the interaction IDs, not text: a floor and a reference "
                                  "for the LLM rows.", doc["baselines"]),
        "analysis": analysis_table(doc["analysis"]),
        "steps": make_table("steps", "Pipeline steps", "Cached steps were reused from an earlier run.",
                            STEP_COLUMNS, doc["meta"].get("steps") or []),
    }
    lpt = doc.get("langptune")
    if lpt is not None:
        tables["langptune"] = result_table("langptune", "LangPTune — trained user profiles",
                                           "Recall@1 with a learned natural-language user profile in place "
                                           "of the verbalized history.", lpt.get("rows") or [])
    return tables
