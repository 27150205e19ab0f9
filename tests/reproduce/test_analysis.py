import pytest

from helpers import tiny_catalog
from verbalrec.logs.catalog import Catalog
from verbalrec.reproduce import analysis
from verbalrec.tasks.schema import Task


def task(items, engagements=None, user="u1", tid="t"):
    n = len(items)
    return Task(task_id=tid, user_id=user, split="test", target_time=99, target_item="x", discovery=True, label=0,
                candidates=["x"], hist_item=items, hist_time=list(range(n)),
                hist_engagement=engagements or ["play"] * n)


@pytest.fixture
def catalog():
    return Catalog(tiny_catalog())


def test_drop_ids_counts_only_texts_whose_raw_had_ids():
    raws = ["1, ID: 5, A, Play", "1, ID: 6, B, Play", "no ids here"]
    assert analysis.drop_ids(raws, ["watched A", "ID: 6 B", "whatever"]) == 0.5
    assert analysis.drop_ids(["none"], ["x"]) is None


def test_aggregate_needs_a_repeat_and_fewer_mentions_or_a_count(catalog):
    item = next(iter(catalog.rows))
    title = catalog.title(item)
    other = [i for i in catalog.rows if i != item][0]
    tasks = [task([item, item, other]), task([item, item]), task([item, other])]
    texts = [f"{title}", f"{title} and {title}", "watched 3 episodes"]
    # task 3 has no repeat: not counted; task 1 names the repeated title once: aggregated
    assert analysis.aggregate(tasks, texts, catalog) == 0.5
    assert analysis.aggregate([task([item, item])], ["watched it twice"], catalog) == 1.0


def test_noise_removed_only_for_items_seen_only_as_noise(catalog):
    a, b = list(catalog.rows)[:2]
    t = task([a, b, b], ["trailer", "preview", "play"])
    # a is noise only; b was also played, so it does not count
    assert analysis.noise_removed([t], ["watched " + catalog.title(b)], catalog) == 1.0
    assert analysis.noise_removed([t], [catalog.title(a)], catalog) == 0.0
    assert analysis.noise_removed([task([a], ["play"])], ["x"], catalog) is None


def test_summary_and_taste(catalog):
    assert analysis.summary(["Interests: mostly Drama.", "- Monday: watched A"]) == 0.5
    truth = {"users": {"u1": {"top_genres": [["Drama", 0.7], ["Comedy", 0.2]]}}}
    tasks = [task(["x"], user="u1"), task(["x"], user="u2")]
    assert analysis.taste_mentioned(tasks, ["likes drama", "likes drama"], truth) == 1.0  # u2 has no truth
    assert analysis.taste_mentioned(tasks, ["comedy", ""], truth) == 0.0
    assert analysis.taste_mentioned(tasks, ["x", "y"], None) is None


def test_analyse_and_examples(catalog):
    a, b = list(catalog.rows)[:2]
    tasks = [task([a, b], tid="plain"), task([a, a, b], ["trailer", "play", "play"], tid="rich")]
    row = analysis.analyse(tasks, ["ID: 1 " * 10, "ID: 2 " * 10], ["short", "x" * 120], catalog)
    assert row["n"] == 2 and row["compression_ratios"] == [0.0833, 2.0]
    assert row["compression_ratio_mean"] == pytest.approx((5 / 60 + 2.0) / 2)
    assert analysis.pick_examples(tasks, catalog, k=1) == [1]


def test_history_coverage_is_the_share_of_history_titles_named(catalog):
    a, b, c = list(catalog.rows)[:3]
    t = task([a, b, c], ["play", "play", "trailer"])  # c is noise: not required
    text = f"liked {catalog.title(a)}"
    assert analysis.history_coverage([t], [text], catalog) == 0.5
    assert analysis.history_coverage([t, t], [text, "nothing"], catalog) == 0.25
