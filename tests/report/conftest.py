"""A tiny hand-made report document (tiny_report.json) and the report built from it once per module."""

import copy
import json
from pathlib import Path

import pytest

FIXTURE = Path(__file__).with_name("tiny_report.json")


@pytest.fixture(scope="session")
def pristine_doc() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))  # NaN literals are read as float('nan')


@pytest.fixture
def report_doc(pristine_doc) -> dict:
    return copy.deepcopy(pristine_doc)


@pytest.fixture(scope="module")
def built(tmp_path_factory, pristine_doc):
    """(doc, out_dir, html text, markdown text) of the fixture's report."""
    from verbalrec.report import build_report
    out = tmp_path_factory.mktemp("report")
    html_path, md_path = build_report(copy.deepcopy(pristine_doc), out)
    return pristine_doc, out, html_path.read_text(encoding="utf-8"), md_path.read_text(encoding="utf-8")
