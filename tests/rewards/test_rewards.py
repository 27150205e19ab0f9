"""Reward functions on hand-computed cases, and the plateau's shape."""

import numpy as np
import pytest

from verbalrec.reason.base import Scores
from verbalrec.rewards import (AccuracyReward, CompressionRatio, LengthReward, ProbabilityReward, RankingReward,
                               ReasonerReward, plateau)


@pytest.mark.parametrize("ratio, expected", [
    (0.0, 0.0), (0.15, 0.5), (0.3, 1.0), (0.42, 1.0), (0.7, 1.0), (0.85, 0.5), (1.0, 0.0), (2.0, 0.0)])
def test_plateau_default_shape(ratio, expected):
    assert plateau(ratio) == pytest.approx(expected)


def test_plateau_slopes_are_configurable():
    assert plateau(0.2, slope_low=2.0) == pytest.approx(0.8)
    assert plateau(0.8, slope_high=10.0) == pytest.approx(0.0)
    xs = np.linspace(0, 1.5, 151)
    ys = [plateau(x) for x in xs]
    inside = (xs >= 0.3) & (xs <= 0.7)
    assert all(y == 1 for y in np.array(ys)[inside]) and max(np.array(ys)[~inside]) < 1


class KeywordOracle:
    """Scores candidate j by how often its id occurs in the context: a transparent oracle."""
    name, uses_text = "keyword", True

    def fit(self, train):
        return self

    def score(self, tasks, contexts):
        values = [[ctx.count(c) for c in t.candidates] for t, ctx in zip(tasks, contexts)]
        return Scores(np.array(values, float), np.array([bool(ctx) for ctx in contexts]))


def test_accuracy_and_ranking_rewards_from_the_oracle():
    comps = ["likes x x", "likes y", "y y x", ""]  # target x: right, wrong, 2nd, invalid (empty)
    cands = [["x", "y"]] * 4
    acc = AccuracyReward(KeywordOracle())(None, comps, candidates=cands, label=[0] * 4)
    assert acc == [1.0, 0.0, 0.0, 0.0]
    mrr = RankingReward(KeywordOracle())(None, comps, candidates=cands, label=[0] * 4)
    assert mrr == [1.0, 0.5, 0.5, 0.0]
    tie = AccuracyReward(KeywordOracle())(None, ["nothing"], candidates=[["x", "y"]], label=[0])
    assert tie == [0.5]  # a two-way tie at the top is half a hit


def test_probability_reward_is_the_oracles_softmax_at_the_target():
    comps = ["likes x x", "likes y", "x y", ""]  # counts (2, 0), (0, 1), (1, 1), invalid
    p = ProbabilityReward(KeywordOracle())(None, comps, candidates=[["x", "y"]] * 4, label=[0] * 4)
    e = np.e
    assert p == pytest.approx([e**2 / (e**2 + 1), 1 / (1 + e), 0.5, 0.0])
    # denser than accuracy: two texts the oracle gets right both earn 1 there, but differ here
    assert ProbabilityReward(KeywordOracle())(None, ["x x x", "x"], candidates=[["x", "y"]] * 2, label=[0, 0]) == \
        pytest.approx([e**3 / (e**3 + 1), e / (e + 1)])


def test_probability_ignores_padded_candidates():
    from verbalrec.rewards.stage1 import target_probability
    values = np.array([[0.0, 0.0, -np.inf], [1000.0, 0.0, -np.inf]])
    assert target_probability(values, np.array([1, 0]), np.array([True, True])) == pytest.approx([0.5, 1.0])


def test_length_reward_and_logged_ratio():
    comps = ["a" * 50, "a" * 10, "a" * 100]
    assert LengthReward()(None, comps, template_chars=[100] * 3) == pytest.approx([1.0, 1 / 3, 0.0])
    assert CompressionRatio()(None, comps, template_chars=[100] * 3) == [0.5, 0.1, 1.0]


def test_reasoner_reward_plus_minus_one():
    titles = [["Alpha", "Beta"]] * 3
    assert ReasonerReward()(None, [" B. Beta", "Alpha", "none"], candidate_titles=titles, label=[1, 1, 1]) == [1, -1, -1]
    # title matching: the named title decides, a wrong letter does not; the letter only without a title
    by_title = ReasonerReward("title")
    four = [["Alpha", "Beta"]] * 4
    assert by_title(None, [" A. Beta", " B. Alpha", " B.", "Beta"], candidate_titles=four, label=[1] * 4) == [1, -1, 1, 1]
    assert ReasonerReward("label")(None, [" A. Beta"], candidate_titles=titles, label=[1]) == [-1]
    with pytest.raises(ValueError):
        ReasonerReward("vibes")


class TopKOracle:
    """An oracle that returns scores for its top 2 candidates only (like an endpoint's top log-probs)."""
    name, uses_text = "top2", True

    def fit(self, train):
        return self

    def score(self, tasks, contexts):
        values = np.full((len(tasks), max(len(t.candidates) for t in tasks)), -np.inf)
        values[:, :2] = [-0.1, -2.3]
        return Scores(values, np.ones(len(tasks), bool))


def test_ranking_reward_of_a_target_outside_the_oracles_top_k():
    cands = [list("abcdefghij")]
    mrr = RankingReward(TopKOracle())(None, ["text"], candidates=cands, label=[2])
    assert mrr == [pytest.approx(np.mean(1 / np.arange(3, 11)))]  # ranked 3..10, not "no answer"
    ndcg = RankingReward(TopKOracle(), metric="ndcg@10")(None, ["text"], candidates=cands, label=[2])
    assert ndcg[0] > 0
    assert AccuracyReward(TopKOracle())(None, ["text"], candidates=cands, label=[2]) == [0.0]
