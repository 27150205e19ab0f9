"""The report as Markdown (GitHub flavour): pipe tables, plots linked from ``figures/``, texts fenced.

Markdown renderers pass raw HTML through, so table cells are HTML-escaped as well as pipe-escaped,
and fenced texts get a fence longer than any backtick run inside them.
"""

from __future__ import annotations

import re
from html import escape

from .figures import Plot
from .sections import HOW_TO_READ, MARKDOWN_MARKS, example_texts, header_facts, present_sections
from .tables import Table

MARKS = {"sig-pos": " ▲", "sig-neg": " ▼", "": ""}


def cell(text: object) -> str:
    return escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")


def fenced(text: str, lang: str = "text") -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def table_md(table: Table) -> str:
    if not table.rows:
        return "_No rows in this run._"
    lines = ["| " + " | ".join(cell(h) for h in table.headers) + " |",
             "|" + "|".join("---:" if k == "num" else ":---" for k in table.kinds) + "|"]
    for row, cls in zip(table.rows, table.row_classes):
        first = cell(row[0]) + MARKS[cls]
        lines.append("| " + " | ".join([first, *(cell(c) for c in row[1:])]) + " |")
    return f"_{cell(table.caption)}_\n\n" + "\n".join(lines)


def figure_md(plot: Plot | None, empty: str) -> str:
    if plot is None:
        return f"_{empty}_"
    return f"**{cell(plot.title)}**\n\n![{cell(plot.title)}](figures/{plot.name}.svg)\n\n_{cell(plot.caption)}_"


def examples_md(examples: list[dict]) -> str:
    if not examples:
        return "_No examples in this run._"
    parts = []
    for ex in examples:
        target = f" · target: {cell(ex['target'])}" if ex.get("target") is not None else ""
        parts.append(f"### Task {cell(ex['task_id'])}{target}")
        parts += [f"**{cell(name)}** ({size})\n\n{fenced(text)}" for name, text, size in example_texts(ex)]
    return "\n\n".join(parts)


def profiles_md(examples: list[dict]) -> str:
    parts = [f"**User {cell(ex['user_id'])}, before training**\n\n{fenced(str(ex['before']))}\n\n"
             f"**After training**\n\n{fenced(str(ex['after']))}" for ex in examples]
    return "### Example profiles\n\n" + "\n\n".join(parts) if parts else ""


def details_md(doc: dict, tables: dict[str, Table]) -> str:
    meta = doc["meta"]
    parts = [table_md(tables["steps"])]
    for title, mapping in (("Models", meta.get("models")), ("Versions", meta.get("versions"))):
        if mapping:
            parts.append(f"### {title}\n\n" + "\n".join(f"- {cell(k)}: `{cell(v)}`" for k, v in mapping.items()))
    return "\n\n".join(parts)


def section_md(sid: str, doc: dict, tables: dict[str, Table], plots: dict[str, Plot]) -> str:
    if sid == "notes":
        return "\n".join(f"- **{cell(n)}**" for n in doc["meta"].get("notes") or [])
    if sid in ("table1", "table2", "baselines"):
        return table_md(tables[sid])
    if sid == "curves":
        return (figure_md(plots.get("stage1_curves"), "No Stage 1 curves in this run.") + "\n\n"
                + figure_md(plots.get("stage2_curves"), "No Stage 2 curves in this run."))
    if sid == "plateau":
        return figure_md(plots.get("plateau"), "")
    if sid == "analysis":
        return table_md(tables["analysis"]) + "\n\n" + figure_md(plots.get("compression"), "No compression ratios.")
    if sid == "examples":
        return examples_md(doc["examples"])
    if sid == "langptune":
        parts = [table_md(tables["langptune"]), figure_md(plots.get("langptune_curves"), "No LangPTune curves."),
                 profiles_md(doc["langptune"].get("examples") or [])]
        return "\n\n".join(p for p in parts if p)
    return details_md(doc, tables)


def render_markdown(doc: dict, tables: dict[str, Table], plots: dict[str, Plot]) -> str:
    meta = doc["meta"]
    facts = " · ".join(f"**{k}** {cell(v)}" for k, v in header_facts(meta))
    head = [f"# {cell(meta['title'])}", facts, fenced(str(meta["command"]), "sh"),
            f"> **How to read this.** {cell(HOW_TO_READ)}{MARKDOWN_MARKS}"]
    body = [f"## {title}\n\n{section_md(sid, doc, tables, plots)}" for sid, title in present_sections(doc)]
    return "\n\n".join(head + body) + "\n"
