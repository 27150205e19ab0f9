"""Words shared by the HTML and Markdown reports: the header facts, the reading guide, section titles."""

from __future__ import annotations

from . import fmt

HOW_TO_READ = ("Recall@1 Disc. = Recall@1 on Discovery tasks (the target is an item the user has not "
               "interacted with before). Δ% is the relative change in it over the template baseline; "
               "brackets are paired-bootstrap 95% confidence intervals. Paper Δ% is the paper's number for "
               "the same row (— where the paper has none). Rows whose Δ% interval excludes 0 are marked: "
               "green = better than the template, red = worse. — = not available (e.g. no such tasks).")
MARKDOWN_MARKS = " In this Markdown file those rows carry ▲ (better) or ▼ (worse) after the configuration."

#: (section id, heading) in page order; sections without content are skipped by the renderers.
SECTIONS = [
    ("notes", "Notes"),
    ("table1", "Table 1 — Main results"),
    ("table2", "Table 2 — Ablations"),
    ("baselines", "Classical baselines"),
    ("curves", "Training curves"),
    ("plateau", "Length reward"),
    ("analysis", "Analysis of verbalizations"),
    ("examples", "Examples (paper Table 3)"),
    ("langptune", "LangPTune"),
    ("details", "Run details"),
]


def header_facts(meta: dict) -> list[tuple[str, str]]:
    """(label, value) pairs shown under the title."""
    return [
        ("Preset", str(meta["preset"])),
        ("Dataset", str(meta["dataset"])),
        ("Split", str(meta.get("split", fmt.DASH))),
        ("Test tasks" if meta.get("split", "test") == "test" else "Tasks", fmt.count(meta["n_tasks"])),
        ("Date", str(meta["date"]).replace("T", " ")[:19]),
        ("Wall time", fmt.duration(meta.get("wall_s"))),
        ("Compute (all steps, first run)", fmt.duration(meta.get("compute_s"))),
        ("Seed", str(meta.get("seed", fmt.DASH))),
    ]


def example_texts(example: dict) -> list[tuple[str, str, str]]:
    """(row name, text, size note) for the raw history and each verbalization of one example."""
    raw = str(example["raw"])
    rows = [("Raw history", raw, f"{len(raw):,} chars")]
    for name, text in example["verbalizations"].items():
        text = "" if text is None else str(text)
        ratio = f", {len(text) / len(raw):.2f}× raw" if raw else ""
        rows.append((str(name), text, f"{len(text):,} chars{ratio}"))
    return rows


def present_sections(doc: dict) -> list[tuple[str, str]]:
    """The sections of this document in page order: notes and LangPTune only when there are any; the
    others always, so a missing result shows as an explicit 'nothing here' rather than silently."""
    has = {
        "notes": bool(doc["meta"].get("notes")),
        "langptune": doc.get("langptune") is not None,
    }
    return [(sid, title) for sid, title in SECTIONS if has.get(sid, True)]
