"""validate_report_doc: a malformed document fails with an InputError that names the field."""

import re

import pytest

from verbalrec.errors import InputError
from verbalrec.report import validate_report_doc


def test_fixture_is_valid(report_doc):
    validate_report_doc(report_doc)
    del report_doc["langptune"]  # optional
    validate_report_doc(report_doc)


@pytest.mark.parametrize("path, field", [
    (("meta",), "meta"),
    (("meta", "title"), "meta.title"),
    (("meta", "n_tasks"), "meta.n_tasks"),
    (("table1", 0, "label"), "table1[0].label"),
    (("baselines", 3, "system"), "baselines[3].system"),
    (("examples", 1, "verbalizations"), "examples[1].verbalizations"),
    (("plateau", "low"), "plateau.low"),
    (("curves", "stage1", "rewrite", 2, "step"), "curves.stage1.rewrite[2].step"),
    (("langptune", "examples", 0, "after"), "langptune.examples[0].after"),
])
def test_missing_field_is_named(report_doc, path, field):
    parent = report_doc
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    with pytest.raises(InputError) as err:
        validate_report_doc(report_doc)
    assert f"'{field}'" in str(err.value)


@pytest.mark.parametrize("path, value, field", [
    (("table1",), {"label": "x"}, "table1"),
    (("table2", 0, "delta_pct_ci95"), [1.0], "table2[0].delta_pct_ci95"),
    (("examples", 0, "raw"), 42, "examples[0].raw"),
    (("meta", "n_tasks"), "120", "meta.n_tasks"),
    (("plateau", "high"), 0.2, "plateau"),
])
def test_wrong_type_is_named(report_doc, path, value, field):
    parent = report_doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    with pytest.raises(InputError, match=re.escape(f"'{field}'")):
        validate_report_doc(report_doc)


def test_not_a_dict():
    with pytest.raises(InputError, match="expected dict"):
        validate_report_doc([])
