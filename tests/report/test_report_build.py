"""The report built from the tiny fixture: every section, numbers that match the document, no external
resources, hostile log text escaped, atomic writes, and the CLI entry."""

import math
import re
from html.parser import HTMLParser

import pytest

from verbalrec.cli import main
from verbalrec.report import build_report

SECTION_IDS = ["notes", "table1", "table2", "baselines", "curves", "plateau", "analysis", "examples",
               "langptune", "details"]
MD_HEADINGS = ["Notes", "Table 1", "Table 2", "Classical baselines", "Training curves", "Length reward",
               "Analysis of verbalizations", "Examples", "LangPTune", "Run details"]
NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


# ---------------------------------------------------------------- parsing helpers (independent of the builder)

def numbers(text: str) -> list[str]:
    return NUMBER.findall(text.replace("\u2212", "-"))


def agrees(printed: str, value: float) -> bool:
    """The printed number is ``value`` rounded to the printed number of decimals."""
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return abs(float(printed) - value) <= 0.5 * 10 ** -decimals + 1e-9


def is_missing(value) -> bool:
    return value is None or isinstance(value, float) and math.isnan(value)


def md_table(md: str, heading: str) -> list[dict]:
    """Rows of the first pipe table after the '## heading' line, as {header: cell}."""
    section = md.split(f"\n## {heading}", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    split = lambda line: [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]  # noqa: E731
    headers = split(lines[0])
    return [dict(zip(headers, split(line))) for line in lines[2:]]


class TableRows(HTMLParser):
    """Rows (cell texts + the row's class) of the HTML table with a given id."""

    def __init__(self, table_id: str):
        super().__init__()
        self.table_id, self.inside, self.rows, self.cell = table_id, False, [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append({"class": attrs.get("class", ""), "cells": []})
        elif self.inside and tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1]["cells"].append(self.cell.strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def html_table(html: str, table_id: str) -> list[dict]:
    parser = TableRows(table_id)
    parser.feed(html)
    header, *rows = parser.rows
    return [{**dict(zip(header["cells"], r["cells"])), "_class": r["class"]} for r in rows]


def significance(row: dict) -> str:
    lo, hi = row.get("delta_pct_ci95") or (None, None)
    if is_missing(row.get("delta_pct")) or is_missing(lo) or is_missing(hi):
        return ""
    return "pos" if lo > 0 else "neg" if hi < 0 else ""


# ---------------------------------------------------------------- tests

def test_every_section_is_in_html_and_markdown(built):
    _, out, html, md = built
    for sid in SECTION_IDS:
        assert f'<section id="{sid}">' in html, sid
    for heading in MD_HEADINGS:
        assert re.search(rf"^## {re.escape(heading)}", md, re.M), heading
    for table_id in ("table1", "table2", "baselines", "analysis", "langptune", "steps"):
        assert f'id="{table_id}-table"' in html, table_id


def test_header_and_notes_come_from_meta(built):
    doc, _, html, md = built
    meta = doc["meta"]
    for text in (meta["preset"], meta["dataset"], meta["command"], str(meta["n_tasks"]), meta["date"][:10]):
        assert text in html and text in md
    for note in meta["notes"]:
        assert note in html and note in md
    assert "How to read this" in html and "How to read this" in md


@pytest.mark.parametrize("table, heading", [("table1", "Table 1"), ("table2", "Table 2"),
                                            ("baselines", "Classical baselines")])
def test_markdown_numbers_match_the_document(built, table, heading):
    doc, _, _, md = built
    printed = md_table(md, heading)
    assert len(printed) == len(doc[table])
    for row, line in zip(doc[table], printed):
        assert line["Configuration"].rstrip(" ▲▼") == row["label"]
        marks = {"▲": "pos", "▼": "neg"}
        assert marks.get(line["Configuration"][-1], "") == significance(row), row["label"]
        recall = [row["recall@1_discovery"], *row["recall@1_discovery_ci95"]]
        check_cell(line["Recall@1 Disc. [95% CI]"], recall)
        delta = [row.get("delta_pct"), *(row.get("delta_pct_ci95") or [])]
        check_cell(line.get("Δ% [95% CI]", "—"), delta)  # the column is left out when no row has a Δ%
        if "Paper Δ%" in line:
            check_cell(line["Paper Δ%"], [row.get("paper_delta_pct")])


def check_cell(cell: str, values: list) -> None:
    if all(is_missing(v) for v in values):
        assert cell == "—", cell
        return
    found = numbers(cell)
    assert len(found) == len(values), (cell, values)
    for text, value in zip(found, values):
        assert agrees(text, value), (cell, values)


def test_html_table1_matches_and_highlights_significant_rows(built):
    doc, _, html, _ = built
    rows = html_table(html, "table1-table")
    assert [r["Configuration"] for r in rows] == [r["label"] for r in doc["table1"]]
    for row, printed in zip(doc["table1"], rows):
        check_cell(printed["Recall@1 Disc. [95% CI]"], [row["recall@1_discovery"], *row["recall@1_discovery_ci95"]])
        expected = {"pos": "sig-pos", "neg": "sig-neg", "": ""}[significance(row)]
        assert printed["_class"] == expected, row["label"]
    assert {r["_class"] for r in rows} >= {"sig-pos", "sig-neg", ""}  # the fixture exercises all three


def test_signs_use_plus_and_minus(built):
    _, _, html, _ = built
    assert "+50.0 [+22.9, +81.5]" in html            # Stage 2 row: 50.0 [22.9, 81.45]
    assert "\u221222.2 [\u221240.5, \u22124.0]" in html  # Action row, Unicode minus


def test_nan_metrics_render_as_dash(built):
    _, _, html, md = built
    row = next(r for r in md_table(md, "Table 2") if r["Configuration"].startswith("Ranking reward"))
    assert row["Recall@1 Disc. [95% CI]"] == "—" and row["MRR"] == "—"
    text = re.sub(r"<svg.*?</svg>", "", html, flags=re.S)
    assert not re.search(r"\bnan\b", text, re.I) and "None" not in text


def test_html_is_self_contained(built):
    _, _, html, _ = built
    assert not re.search(r"<script|<link|<iframe|@import", html, re.I)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", html, re.I)
    assert html.count("<svg") >= 4  # curves, plateau, compression, LangPTune — inlined


def test_hostile_text_is_escaped(built):
    doc, _, html, md = built
    assert "<script>" not in html and "<img src=x" not in html and "<b>7</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in md and "<b>7</b>" not in md
    # texts are fenced in Markdown; a fence inside the text must not close the block early
    blocks = [m.group(2) for m in re.finditer(r"^(`{3,})text\n(.*?)\n\1$", md, re.M | re.S)]
    for example in doc["examples"]:
        assert example["raw"] in blocks
        assert set(example["verbalizations"].values()) <= set(blocks)


def test_markdown_links_figures_that_exist(built):
    _, out, _, md = built
    links = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.svg)\)", md)
    assert len(links) >= 4
    for link in links:
        assert (out / link).read_text().lstrip().startswith("<?xml")


def test_missing_optional_parts_still_build(report_doc, tmp_path):
    report_doc["langptune"] = None
    report_doc["curves"] = {"stage1": {}, "stage2": {}}
    report_doc["meta"]["notes"] = []
    report_doc["examples"] = []
    html_path, md_path = build_report(report_doc, tmp_path)
    html = html_path.read_text()
    assert 'id="langptune"' not in html and 'id="notes"' not in html
    assert "No Stage 1 curves" in html and "No Stage 1 curves" in md_path.read_text()


def test_failed_build_leaves_no_partial_files(report_doc, tmp_path, monkeypatch):
    import verbalrec.report.build as build
    build_report(report_doc, tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    def broken(*args):
        raise RuntimeError("renderer failed")
    monkeypatch.setattr(build, "render_markdown", broken)
    report_doc["meta"]["title"] = "changed"
    with pytest.raises(RuntimeError):
        build_report(report_doc, tmp_path)
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # old report intact, no temporary files left


def test_cli_rebuilds_from_a_run_folder(pristine_doc, tmp_path, capsys):
    import json
    (tmp_path / "report.json").write_text(json.dumps(pristine_doc))
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "report.html").is_file() and (tmp_path / "out" / "report.md").is_file()
    assert main(["report", str(tmp_path / "report.json")]) == 0
    assert (tmp_path / "report.html").is_file()


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "report.json" in capsys.readouterr().err
    (tmp_path / "report.json").write_text('{"meta": {}}')
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "baselines" in err
