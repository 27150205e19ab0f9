"""Classical rankers fit on training tasks and rank as their definitions say."""

import numpy as np

from helpers import make_taskset
from verbalrec.reason import ItemKNNRanker, PopularityRanker, RandomRanker

TRAIN = make_taskset([
    {"user_id": u, "hist_item": ["a", "b"], "target_item": "c", "candidates": ["c", "z"]} for u in range(3)
] + [{"user_id": 9, "hist_item": ["x"], "target_item": "y", "candidates": ["y", "z"]}])
TEST = make_taskset([{"user_id": 5, "hist_item": ["a"], "target_item": "b", "candidates": ["y", "b", "c"],
                      "split": "test"}])


def test_popularity_counts_training_events():
    s = PopularityRanker().fit(TRAIN).score(TEST.tasks(), [""])
    np.testing.assert_array_equal(s.values, [[1, 3, 3]])  # y once, b and c three times


def test_itemknn_prefers_items_that_co_occur_with_the_history():
    s = ItemKNNRanker().fit(TRAIN).score(TEST.tasks(), [""])
    assert s.values[0, 1] > 0 and s.values[0, 0] == 0 and s.predict()[0] in (1, 2)


def test_random_is_seeded_per_task_and_near_chance():
    tasks = make_taskset([{"user_id": i, "hist_item": [], "target_item": "t", "candidates": list("tuvwxyzabc")}
                          for i in range(2000)]).tasks()
    r = RandomRanker(seed=3)
    a, b = r.score(tasks), r.score(tasks[::-1])
    np.testing.assert_array_equal(a.values, b.values[::-1])
    assert abs((a.predict() == 0).mean() - 0.1) < 0.03


def test_text_itemknn_reads_only_the_history_the_text_still_names():
    from verbalrec.logs.catalog import Catalog
    from verbalrec.reason.baselines import TextItemKNNRanker, named_history
    title = lambda i: {"a": "Alpha (1990)", "b": "Beta (1991)", "x": "Xi (1992)"}[i]  # noqa: E731
    task = make_taskset([{"user_id": 1, "hist_item": ["a", "x", "a", "b"], "target_item": "c",
                          "candidates": ["c", "y"]}]).tasks()[0]
    text = "watched alpha (1990) on tv\nbeta (1991)"
    assert named_history(task, text, title) == ["a", "b"]  # the Xi line and the rewatch were dropped
    assert named_history(task, "Alpha (1990)\nAlpha (1990)\nXi (1992)", title) == ["a", "a"]  # order is kept
    assert named_history(task, "", title) == []
    r = TextItemKNNRanker(Catalog(TRAIN.catalog)).fit(TRAIN)
    t = TEST.tasks()
    named = r.score(t, [Catalog(TRAIN.catalog).title("a")]).values
    np.testing.assert_array_equal(named, ItemKNNRanker().fit(TRAIN).score(t).values)  # names all: as item-kNN
    np.testing.assert_array_equal(r.score(t, ["nothing named here"]).values, [[0, 0, 0]])
