"""Task building: chronology, targets, discovery, splits, negatives, determinism, task files."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from verbalrec.errors import InputError
from verbalrec.tasks import TaskProtocol, build_tasks, load_tasks, preset, save_tasks


def build(log, **kw):
    return build_tasks(log, preset("paper", **kw), progress=False)


def events_before(log, user, t):
    ev = log.events
    return ev[(ev.user_id == user) & (ev.timestamp < t)]


def test_histories_are_the_past_in_order_and_capped(tiny_log):
    ts = build(tiny_log, history_len=3, n_candidates=4)
    for task in ts.tasks():
        assert len(task.hist_item) <= 3
        assert task.hist_time == sorted(task.hist_time)
        assert all(t <= task.target_time for t in task.hist_time)
        assert task.candidates[task.label] == task.target_item and len(set(task.candidates)) == 4


def test_leave_last_split_one_test_and_valid_per_user(tiny_log):
    ts = build(tiny_log, n_candidates=3)
    test, valid = ts.split("test").tasks(), ts.split("valid").tasks()
    assert len(test) == len(valid) == 6
    for t in test:  # the test target is the user's last target event
        later = tiny_log.events[(tiny_log.events.user_id == t.user_id) & (tiny_log.events.timestamp > t.target_time)]
        assert later.empty or set(later.engagement) <= {"thumb_up"}


def test_noise_and_same_visit_events_are_never_targets(tiny_log):
    ts = build(tiny_log, n_candidates=4, train_tasks_per_user=0)
    u0 = {(t.target_item, t.target_time) for t in ts.tasks() if t.user_id == "u0"}
    engagement = tiny_log.events.set_index(["item_id", "timestamp"])["engagement"]
    assert all(engagement[k] == "play" for k in u0)  # not the trailer, not the thumb after a play


def test_discovery_flag_marks_rewatch(tiny_log):
    ts = build(tiny_log, n_candidates=3, train_tasks_per_user=0)
    last_u0 = ts.split("test").tasks()[0]
    assert last_u0.user_id == "u0" and last_u0.target_item == "i9"
    assert last_u0.discovery == ("i9" not in set(events_before(tiny_log, "u0", last_u0.target_time).item_id))
    rewatch = [t for t in ts.tasks() if t.user_id == "u0" and t.target_item == "i1"][-1]
    assert rewatch.discovery is False and all(t.discovery for t in ts.tasks() if t.user_id != "u0")


@pytest.mark.parametrize("negatives", ["uniform", "popularity", "cooccurrence"])
def test_negatives_are_unseen_and_distinct(tiny_log, negatives):
    ts = build(tiny_log, n_candidates=3, negatives=negatives, train_tasks_per_user=0)
    for t in ts.tasks():
        negs = [c for c in t.candidates if c != t.target_item]
        assert len(negs) == 2 and not (set(negs) & set(events_before(tiny_log, t.user_id, t.target_time).item_id))


def test_cooccurrence_negatives_are_harder_than_uniform():
    from verbalrec.logs import load_log
    log = load_log("ml-100k")
    from verbalrec.reason import PopularityRanker
    from verbalrec.evaluate.loop import evaluate
    hits = {}
    for neg in ("uniform", "cooccurrence"):
        ts = build_tasks(log, preset("paper", negatives=neg, train_tasks_per_user=2), progress=False)
        hits[neg] = evaluate(ts.split("test"), PopularityRanker().fit(ts.split("train")), progress=False).summary["recall@1"]
    assert hits["cooccurrence"] < hits["uniform"] - 0.05


def test_time_split_orders_train_valid_test(tiny_log):
    ts = build_tasks(tiny_log, preset("llara", n_candidates=3), progress=False)
    times = {s: [t.target_time for t in ts.split(s).tasks()] for s in ("train", "valid", "test")}
    assert max(times["train"]) < min(times["valid"]) <= max(times["valid"]) < min(times["test"])


def test_deterministic_by_seed(tiny_log):
    a, b, c = build(tiny_log, n_candidates=4), build(tiny_log, n_candidates=4), build(tiny_log, n_candidates=4, seed=1)
    assert a.table.equals(b.table) and not a.table.equals(c.table)


def test_tasks_without_enough_unseen_items_are_dropped_and_counted(tiny_log):
    ts = build(tiny_log, n_candidates=4)  # u0 has seen 10 of 12 items before its last target
    assert "u0" not in set(ts.split("test").table["user_id"].to_pylist())
    assert ts.meta["dropped_no_negatives"] >= 1


def test_too_few_events_is_a_clear_error(tiny_log):
    with pytest.raises(InputError, match="no test tasks.*lower --min-history"):
        build(tiny_log, min_history=50)


def test_protocol_validation():
    with pytest.raises(InputError, match="field 'negatives'.*uniform"):
        TaskProtocol(negatives="hard")
    with pytest.raises(InputError, match="unknown protocol preset"):
        preset("nope")
    assert preset("llara").history_len == 10 and preset("llara").n_candidates == 20


def test_save_load_roundtrip_and_foreign_file(tmp_path, tiny_log):
    ts = build(tiny_log, n_candidates=4)
    save_tasks(ts, tmp_path / "t")
    back = load_tasks(tmp_path / "t")
    assert back.table.equals(ts.table) and back.meta["leakage_check"] == "passed"
    # a task file built elsewhere, with only the required columns and no catalog beside it
    foreign = tmp_path / "elsewhere" / "mine.parquet"
    foreign.parent.mkdir()
    pq.write_table(ts.table.select(["task_id", "user_id", "split", "target_time", "target_item", "label",
                                    "candidates", "hist_item", "hist_time"]), foreign)
    other = load_tasks(foreign)
    assert len(other) == len(ts) and other.table["discovery"].to_pylist() == [
        t not in h for t, h in zip(ts.table["target_item"].to_pylist(), ts.table["hist_item"].to_pylist())]
    assert set(other.catalog["item_id"]) >= set(np.concatenate(ts.table["candidates"].to_pylist()))


def test_min_history_advice_only_when_it_can_be_lowered(tmp_path):
    import pandas as pd
    from verbalrec.logs.schema import EventLog, catalog_from_events, validate_events
    ev = validate_events(pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"], "timestamp": [1, 2]}))
    log = EventLog(ev, catalog_from_events(ev))
    with pytest.raises(InputError, match="no test tasks") as err:
        build(log, min_history=1, n_candidates=2)
    assert "min-history" not in str(err.value) and "more events per user" in str(err.value)
