"""Number formatting: signs, missing values, durations."""

import math

import pytest

from verbalrec.report import fmt


@pytest.mark.parametrize("value, text", [(5.3, "+5.3"), (-1.14, "\u22121.1"), (0.0, "0.0"), (0.04, "+0.0"),
                                         (-0.04, "\u22120.0"), (None, "—"), (math.nan, "—"), (math.inf, "—")])
def test_signed(value, text):
    assert fmt.signed(value) == text


def test_recall_and_delta_cells():
    row = {"recall@1_discovery": 0.4121, "recall@1_discovery_ci95": [0.3712, 0.455],
           "delta_pct": 5.3, "delta_pct_ci95": [-1.1, 12.1]}
    assert fmt.recall(row) == "0.412 [0.371, 0.455]"
    assert fmt.delta(row) == "+5.3 [\u22121.1, +12.1]"
    assert fmt.delta({"recall@1_discovery": 0.4}) == "—"  # the baseline row has no Δ%
    assert fmt.recall({"recall@1_discovery": 0.4, "recall@1_discovery_ci95": None}) == "0.400"


@pytest.mark.parametrize("ci, sig", [([0.1, 3.0], "pos"), ([-3.0, -0.1], "neg"), ([-1.0, 1.0], ""),
                                     ([math.nan, 2.0], ""), (None, "")])
def test_significance(ci, sig):
    assert fmt.significance({"delta_pct": 1.0, "delta_pct_ci95": ci}) == sig


@pytest.mark.parametrize("seconds, text", [(0.42, "0.4 s"), (81, "81 s"), (725, "12 min 05 s"),
                                           (3725.4, "1 h 02 min"), (None, "—")])
def test_duration(seconds, text):
    assert fmt.duration(seconds) == text
