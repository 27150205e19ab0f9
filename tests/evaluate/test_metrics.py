"""Each metric on hand-computed cases; the paired bootstrap on known differences."""

import math

import numpy as np
import pytest

from verbalrec.evaluate.bootstrap import mean_ci, relative_delta
from verbalrec.metrics import per_task_metrics, summarize

SCORES = np.array([[3.0, 2.0, 1.0],    # target ranked 1st
                   [1.0, 2.0, 3.0],    # target ranked 3rd
                   [1.0, 1.0, 1.0],    # three-way tie: rank uniform on {1,2,3}
                   [5.0, 0.0, -np.inf]])  # padded candidate; target 2nd
LABELS = np.array([0, 0, 0, 1])


def test_hand_computed_metrics():
    m = per_task_metrics(SCORES, LABELS, np.ones(4, bool), ks=(1, 2))
    np.testing.assert_allclose(m["hr@1"], [1, 0, 1 / 3, 0])
    np.testing.assert_allclose(m["hr@2"], [1, 0, 2 / 3, 1])
    np.testing.assert_allclose(m["mrr"], [1, 1 / 3, (1 + 1 / 2 + 1 / 3) / 3, 1 / 2])
    np.testing.assert_allclose(m["ndcg@2"], [1, 0, (1 + 1 / math.log2(3)) / 3, 1 / math.log2(3)])


def test_invalid_answers_score_zero_and_lower_valid_ratio():
    valid = np.array([True, True, True, False])
    m = per_task_metrics(SCORES, LABELS, valid)
    assert m["hr@1"][3] == 0 and m["mrr"][3] == 0
    s = summarize(m, discovery=np.ones(4, bool))
    assert s["valid_ratio"] == 0.75


def test_discovery_split_of_recall_at_1():
    m = per_task_metrics(SCORES, LABELS, np.ones(4, bool))
    s = summarize(m, discovery=np.array([True, False, True, False]))
    assert s["recall@1_discovery"] == pytest.approx((1 + 1 / 3) / 2)
    assert s["recall@1_non_discovery"] == 0 and s["recall@1"] == pytest.approx((1 + 1 / 3) / 4)
    assert (s["n"], s["n_discovery"]) == (4, 2)


def test_relative_delta_and_paired_ci():
    rng = np.random.default_rng(0)
    a = (rng.random(400) < 0.2).astype(float)
    b = np.maximum(a, (rng.random(400) < 0.1))  # b adds hits on top of a's
    d, lo, hi = relative_delta(a, b)
    assert d == pytest.approx(100 * (b.mean() - a.mean()) / a.mean())
    assert 0 < lo < d < hi
    assert relative_delta(a, a) == (0.0, 0.0, 0.0)  # paired: identical systems have no spread
    with pytest.raises(ValueError):
        relative_delta(a, b[:10])


def test_mean_ci_brackets_the_mean():
    x = np.r_[np.ones(30), np.zeros(70)]
    m, lo, hi = mean_ci(x)
    assert m == 0.3 and lo < 0.3 < hi and hi - lo < 0.25


# a top-k answer (an endpoint's top log-probs): 2 candidates scored, 8 left at -inf, N = 10
TOP2 = np.array([[-0.1, -2.3] + [-np.inf] * 8])


def test_a_target_outside_the_returned_top_k_is_a_valid_miss():
    m = per_task_metrics(TOP2, np.array([2]), np.array([True]), ks=(1, 2, 10), n_candidates=[10])
    assert m["valid"].tolist() == [1.0]  # an answer came back: not "no answer"
    assert m["hr@1"][0] == 0 and m["hr@2"][0] == 0 and m["hr@10"][0] == 1  # rank uniform on 3..10
    ranks = np.arange(3, 11)
    assert m["mrr"][0] == pytest.approx(np.mean(1 / ranks))
    assert m["ndcg@10"][0] == pytest.approx(np.mean(1 / np.log2(ranks + 1)))


def test_a_target_inside_the_top_k_is_ranked_among_the_scored():
    m = per_task_metrics(TOP2, np.array([1]), np.array([True]), ks=(1, 2), n_candidates=[10])
    assert m["hr@1"][0] == 0 and m["hr@2"][0] == 1 and m["mrr"][0] == 0.5


def test_padding_beyond_n_candidates_never_counts():
    scores = np.array([[0.0, -np.inf, -np.inf, -np.inf]])  # 2 candidates + 2 padding columns
    m = per_task_metrics(scores, np.array([1]), np.array([True]), ks=(1, 2), n_candidates=[2])
    assert m["hr@1"][0] == 0 and m["hr@2"][0] == 1 and m["mrr"][0] == 0.5  # rank 2 of 2, not 2..4


def test_without_n_candidates_an_unscored_target_is_a_miss_not_an_invalid_answer():
    m = per_task_metrics(TOP2, np.array([2]), np.array([True]), ks=(1, 10))
    assert m["valid"].tolist() == [1.0] and m["hr@10"][0] == 0 and m["mrr"][0] == 0


def test_the_evaluation_loop_passes_each_tasks_candidate_count():
    from helpers import make_taskset
    from verbalrec.evaluate.loop import result_of
    from verbalrec.reason.base import Scores
    tasks = make_taskset([{"user_id": "u", "target_item": "c", "candidates": list("abcdefghij"),
                           "hist_item": ["z"]}]).tasks()
    res = result_of("endpoint", tasks, Scores(TOP2, np.array([True])))
    assert res.summary["valid_ratio"] == 1.0 and res.summary["hr@10"] == 1.0
