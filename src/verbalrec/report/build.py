"""Build the report files: validate, render everything in memory, then write each file atomically.

Rendering finishes before the first write, so a failure leaves earlier reports untouched.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..atomic import write_text
from ..errors import InputError
from .figures import build_plots
from .html import render_html
from .markdown import render_markdown
from .schema import validate_report_doc
from .tables import build_tables

REPORT_JSON = "report.json"


def build_report(doc: dict, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``report.html`` (self-contained) and ``report.md`` (+ ``figures/*.svg``) into ``out_dir``."""
    validate_report_doc(doc)
    tables, plots = build_tables(doc), build_plots(doc)
    html_text, md_text = render_html(doc, tables, plots), render_markdown(doc, tables, plots)
    out = Path(out_dir)
    for plot in plots.values():
        write_text(out / "figures" / f"{plot.name}.svg", plot.svg)
    write_text(out / "report.md", md_text)
    write_text(out / "report.html", html_text)
    return out / "report.html", out / "report.md"


def load_report_doc(path: str | os.PathLike) -> tuple[dict, Path]:
    """Read a report document from ``report.json`` or a run folder holding one; validated."""
    path = Path(path)
    if path.is_dir():
        path = path / REPORT_JSON
    if not path.is_file():
        raise InputError("no report document here", file=path,
                         fix="pass a run folder with report.json, or the JSON file itself")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"not valid JSON ({err})", file=path) from None
    validate_report_doc(doc, source=path)
    return doc, path
