"""The report as one self-contained HTML page: inline CSS and SVG, no scripts, no external resources.

Every piece of document text goes through :func:`esc` (``html.escape``): log text is untrusted.
"""

from __future__ import annotations

from html import escape

from .figures import Plot
from .sections import HOW_TO_READ, example_texts, header_facts, present_sections
from .tables import Table

CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --head: #f6f8fa; --accent: #0969da;
        --pos: #dafbe1; --pos-line: #1a7f37; --neg: #ffebe9; --neg-line: #cf222e; --note: #fff8c5; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff; line-height: 1.5;
       font: 15px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", Helvetica, Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 1.7em; margin: 0 0 8px; }
h2 { font-size: 1.3em; margin: 36px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05em; margin: 20px 0 6px; }
p.caption { color: var(--muted); margin: 4px 0 10px; font-size: 0.92em; }
.facts { display: flex; flex-wrap: wrap; gap: 6px 22px; margin: 6px 0 10px; padding: 0; list-style: none; }
.facts b { color: var(--muted); font-weight: 600; margin-right: 4px; }
.command { display: block; font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
           background: var(--head); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px;
           white-space: pre-wrap; word-break: break-all; }
nav { margin: 14px 0; font-size: 0.92em; }
nav a { color: var(--accent); text-decoration: none; margin-right: 14px; white-space: nowrap; }
.howto { background: #ddf4ff; border-left: 4px solid var(--accent); padding: 8px 12px; border-radius: 4px;
         font-size: 0.93em; }
.notes { background: var(--note); border: 1px solid #d4a72c; border-radius: 6px; padding: 10px 14px 10px 34px; }
.notes li { margin: 3px 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.9em; margin: 4px 0 8px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 10px; vertical-align: baseline; }
th { background: var(--head); text-align: left; white-space: nowrap; }
td.code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.sig-pos td { background: var(--pos); }
tr.sig-pos td:first-child { box-shadow: inset 4px 0 var(--pos-line); }
tr.sig-neg td { background: var(--neg); }
tr.sig-neg td:first-child { box-shadow: inset 4px 0 var(--neg-line); }
.legend span { display: inline-block; padding: 0 6px; border-radius: 3px; margin-right: 8px; font-size: 0.85em; }
.legend .pos { background: var(--pos); border-left: 4px solid var(--pos-line); }
.legend .neg { background: var(--neg); border-left: 4px solid var(--neg-line); }
figure { margin: 10px 0 18px; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 0.9em; }
.empty { color: var(--muted); font-style: italic; }
table.example { width: 100%; table-layout: fixed; }
table.example tbody th { width: 190px; white-space: normal; }
table.profiles tbody th { width: 110px; }
table.example th small { display: block; color: var(--muted); font-weight: normal; }
pre { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; max-height: 22em; overflow-y: auto;
      font: 12.5px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; font-size: 0.9em; }
dl.kv dt { color: var(--muted); } dl.kv dd { margin: 0; overflow-wrap: anywhere; }
"""


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def table_html(table: Table) -> str:
    def cell(tag: str, text: str, kind: str) -> str:
        attr = f' class="{kind}"' if kind else ""
        return f"<{tag}{attr}>{esc(text)}</{tag}>"

    head = "".join(cell("th", h, "num" if k == "num" else "") for h, k in zip(table.headers, table.kinds))
    body = []
    for row, cls in zip(table.rows, table.row_classes):
        cells = "".join(cell("td", c, k) for c, k in zip(row, table.kinds))
        attr = f' class="{cls}"' if cls else ""
        body.append(f"<tr{attr}>{cells}</tr>")
    if not body:
        return '<p class="empty">No rows in this run.</p>'
    return (f'<p class="caption">{esc(table.caption)}</p><div class="scroll"><table id="{esc(table.id)}-table">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def figure_html(plot: Plot | None, empty: str) -> str:
    if plot is None:
        return f'<p class="empty">{esc(empty)}</p>'
    svg = plot.svg[plot.svg.index("<svg"):]  # drop the XML prolog and doctype: invalid inside HTML
    return (f'<figure id="fig-{esc(plot.name)}"><h3>{esc(plot.title)}</h3>{svg}'
            f"<figcaption>{esc(plot.caption)}</figcaption></figure>")


def header_html(meta: dict, sections: list[tuple[str, str]]) -> str:
    facts = "".join(f"<li><b>{esc(k)}</b>{esc(v)}</li>" for k, v in header_facts(meta))
    links = "".join(f'<a href="#{sid}">{esc(title)}</a>' for sid, title in sections)
    return (f"<header><h1>{esc(meta['title'])}</h1><ul class=\"facts\">{facts}</ul>"
            f'<code class="command">{esc(meta["command"])}</code><nav>{links}</nav>'
            f'<p class="howto"><b>How to read this.</b> {esc(HOW_TO_READ)}<br><span class="legend">'
            '<span class="pos">CI excludes 0, better</span><span class="neg">CI excludes 0, worse</span>'
            "</span></p></header>")


def notes_html(meta: dict) -> str:
    return '<ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in meta.get("notes") or []) + "</ul>"


def examples_html(examples: list[dict]) -> str:
    if not examples:
        return '<p class="empty">No examples in this run.</p>'
    parts = ['<p class="caption">The same test history as the template shows it and as each verbalizer '
             "rewrote it. Long texts scroll.</p>"]
    for ex in examples:
        target = f" · target: {esc(ex['target'])}" if ex.get("target") is not None else ""
        rows = "".join(f"<tr><th>{esc(name)}<small>{esc(size)}</small></th><td><pre>{esc(text)}</pre></td></tr>"
                       for name, text, size in example_texts(ex))
        parts.append(f"<h3>Task {esc(ex['task_id'])}{target}</h3><table class=\"example\">{rows}</table>")
    return "".join(parts)


def profiles_html(examples: list[dict]) -> str:
    rows = "".join(f"<tr><th>{esc(ex['user_id'])}</th><td><pre>{esc(ex['before'])}</pre></td>"
                   f"<td><pre>{esc(ex['after'])}</pre></td></tr>" for ex in examples)
    if not rows:
        return ""
    return ('<h3>Example profiles</h3><table class="example profiles"><thead><tr><th>User</th><th>Before training</th>'
            f"<th>After training</th></tr></thead><tbody>{rows}</tbody></table>")


def details_html(doc: dict, tables: dict[str, Table]) -> str:
    meta = doc["meta"]

    def kv(title: str, mapping: dict) -> str:
        items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in (mapping or {}).items())
        return f"<h3>{esc(title)}</h3><dl class=\"kv\">{items}</dl>" if items else ""

    return table_html(tables["steps"]) + kv("Models", meta.get("models")) + kv("Versions", meta.get("versions"))


def section_body(sid: str, doc: dict, tables: dict[str, Table], plots: dict[str, Plot]) -> str:
    if sid == "notes":
        return notes_html(doc["meta"])
    if sid in ("table1", "table2", "baselines"):
        return table_html(tables[sid])
    if sid == "curves":
        return (figure_html(plots.get("stage1_curves"), "No Stage 1 curves in this run.")
                + figure_html(plots.get("stage2_curves"), "No Stage 2 curves in this run."))
    if sid == "plateau":
        return figure_html(plots.get("plateau"), "")
    if sid == "analysis":
        return table_html(tables["analysis"]) + figure_html(plots.get("compression"), "No compression ratios.")
    if sid == "examples":
        return examples_html(doc["examples"])
    if sid == "langptune":
        lpt = doc["langptune"]
        return (table_html(tables["langptune"]) + figure_html(plots.get("langptune_curves"), "No LangPTune curves.")
                + profiles_html(lpt.get("examples") or []))
    return details_html(doc, tables)


def render_html(doc: dict, tables: dict[str, Table], plots: dict[str, Plot]) -> str:
    sections = present_sections(doc)
    body = "".join(f'<section id="{sid}"><h2>{esc(title)}</h2>{section_body(sid, doc, tables, plots)}</section>'
                   for sid, title in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(doc['meta']['title'])}</title><style>{CSS}</style></head>"
            f"<body><main>{header_html(doc['meta'], sections)}{body}</main></body></html>\n")
