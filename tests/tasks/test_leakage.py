"""The leakage check refuses deliberately leaky task sets, on build and on read."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from verbalrec.errors import LeakageError
from verbalrec.tasks import build_tasks, check_leakage, load_tasks, preset


def _replace(table, name, values):
    return table.set_column(table.schema.get_field_index(name), name, pa.array(values, table.schema.field(name).type))


@pytest.fixture
def tasks(tiny_log):
    return build_tasks(tiny_log, preset("paper", n_candidates=4), progress=False)


def test_clean_tasks_pass(tasks):
    check_leakage(tasks.table)


def test_future_event_in_history_is_refused(tasks):
    times = tasks.table["hist_time"].to_pylist()
    times[0] = times[0][:-1] + [tasks.table["target_time"][0].as_py() + 1]
    with pytest.raises(LeakageError, match="history event is later than its target"):
        check_leakage(_replace(tasks.table, "hist_time", times))


def test_test_target_inside_a_training_history_is_refused(tasks):
    t = tasks.table.to_pylist()
    test = next(r for r in t if r["split"] == "test")
    train = next(r for r in t if r["split"] == "train" and r["user_id"] == test["user_id"])
    train["hist_item"][-1], train["hist_time"][-1] = test["target_item"], test["target_time"]
    train["target_time"] = max(train["target_time"], test["target_time"])
    with pytest.raises(LeakageError, match="test target appears in a training task"):
        check_leakage(pa.Table.from_pylist(t, schema=tasks.table.schema))


def test_test_target_as_training_target_is_refused(tasks):
    t = tasks.table.to_pylist()
    test = next(r for r in t if r["split"] == "test")
    t.append({**test, "task_id": "copy", "split": "train"})
    with pytest.raises(LeakageError, match="appears in a training task"):
        check_leakage(pa.Table.from_pylist(t, schema=tasks.table.schema))


def test_wrong_label_is_refused(tasks):
    labels = [(x + 1) % 4 for x in tasks.table["label"].to_pylist()]
    with pytest.raises(LeakageError, match="candidates\\[label\\] is not the target"):
        check_leakage(_replace(tasks.table, "label", labels))


def test_leaky_file_is_refused_on_read(tmp_path, tasks):
    times = tasks.table["hist_time"].to_pylist()
    times[3] = [tasks.table["target_time"][3].as_py() + 60] * len(times[3])
    pq.write_table(_replace(tasks.table, "hist_time", times), tmp_path / "leaky.parquet")
    with pytest.raises(LeakageError, match="leaky.parquet.*field 'hist_time'"):
        load_tasks(tmp_path / "leaky.parquet")


def _with_history(tasks, i, items, times, engagements=None):
    t = tasks.table.to_pylist()
    n = len(items)
    t[i].update(hist_item=items, hist_time=times, hist_engagement=engagements or ["play"] * n,
                hist_duration=[None] * n, hist_device=[None] * n, hist_rating=[None] * n)
    return pa.Table.from_pylist(t, schema=tasks.table.schema)


def test_the_target_event_inside_its_own_history_is_refused(tasks):
    row = tasks.table.slice(0, 1).to_pylist()[0]
    items, times = row["hist_item"] + [row["target_item"]], row["hist_time"] + [row["target_time"]]
    with pytest.raises(LeakageError, match=r"field 'hist_item': task .*: the target event is inside its own history"):
        check_leakage(_with_history(tasks, 0, items, times))


def test_same_second_events_that_are_not_the_target_pass(tasks):
    row = tasks.table.slice(0, 1).to_pylist()[0]
    other = next(c for c in row["candidates"] if c != row["target_item"])
    t = row["target_time"]
    check_leakage(_with_history(tasks, 0, row["hist_item"] + [other], row["hist_time"] + [t]))  # another item
    check_leakage(_with_history(tasks, 0, row["hist_item"] + [row["target_item"]], row["hist_time"] + [t],
                                row["hist_engagement"] + ["trailer"]))  # noise before the play: another event


def test_a_null_history_time_is_refused(tasks):
    row = tasks.table.slice(0, 1).to_pylist()[0]
    times = row["hist_time"][:-1] + [None]
    with pytest.raises(LeakageError, match=r"field 'hist_time': task .*: a history event has no time"):
        check_leakage(_with_history(tasks, 0, row["hist_item"], times))


def test_history_times_not_aligned_with_items_are_refused(tasks):
    row = tasks.table.slice(0, 1).to_pylist()[0]
    t = tasks.table.to_pylist()
    t[0]["hist_time"] = row["hist_time"][:-1]
    with pytest.raises(LeakageError, match="hist_time"):
        check_leakage(pa.Table.from_pylist(t, schema=tasks.table.schema))


def test_a_null_target_time_is_refused(tasks):
    times = tasks.table["target_time"].to_pylist()
    times[2] = None
    with pytest.raises(LeakageError, match="field 'target_time'"):
        check_leakage(_replace(tasks.table, "target_time", times))


def test_a_task_file_with_times_out_of_range_is_refused_on_read(tmp_path, tasks):
    from verbalrec.errors import InputError
    times = [t * 1000 for t in tasks.table["target_time"].to_pylist()]
    hist = [[t * 1000 for t in h] for h in tasks.table["hist_time"].to_pylist()]
    table = _replace(_replace(tasks.table, "target_time", times), "hist_time", hist)
    pq.write_table(table, tmp_path / "ms.parquet")
    with pytest.raises(InputError, match=r"ms.parquet, row 1, field 'target_time'.*outside the allowed range"):
        load_tasks(tmp_path / "ms.parquet")


def _same_second_log():
    """Time-split logs at coarse resolution: add_to_list X, add_to_list Y, play X in one second.
    The play of X is a target (a new visit: the event before it is Y) and its history holds the
    earlier add_to_list of X at the same time -- another event, not the target."""
    import pandas as pd
    from verbalrec.logs.schema import EventLog, catalog_from_events, validate_events
    rows = []
    for u in range(6):
        for k in range(6):
            rows.append((f"u{u}", 60 * (10 * k + u), f"i{(u + k) % 9}", "play"))
        t = 60 * (10 * 6 + u)
        rows += [(f"u{u}", t, "x", "add_to_list"), (f"u{u}", t, "y", "add_to_list"), (f"u{u}", t, "x", "play")]
        rows += [(f"u{u}", t + 60 * (30 + k), f"i{(u + k + 3) % 9}", "play") for k in range(3)]
    ev = validate_events(pd.DataFrame(rows, columns=["user_id", "timestamp", "item_id", "engagement"]))
    return EventLog(ev, catalog_from_events(ev), name="same-second")


def test_a_same_second_earlier_event_of_the_target_item_is_not_a_leak(tmp_path):
    from verbalrec.tasks import save_tasks
    tasks = build_tasks(_same_second_log(), preset("llara", n_candidates=4), progress=False)
    rows = [r for r in tasks.table.to_pylist() if r["target_item"] == "x" and r["hist_item"][-1] == "y"]
    assert len(rows) == 6 and all(r["hist_item"][-2] == "x" and r["hist_time"][-2] == r["target_time"] for r in rows)
    check_leakage(tasks.table)  # the builder's own tasks pass the check they are read with
    save_tasks(tasks, tmp_path / "t")
    assert len(load_tasks(tmp_path / "t")) == len(tasks)


def test_the_target_copied_into_its_history_before_later_noise_is_refused(tasks):
    row = tasks.table.slice(0, 1).to_pylist()[0]
    other = next(c for c in row["candidates"] if c != row["target_item"])
    t = row["target_time"]
    items = row["hist_item"] + [row["target_item"], other, row["target_item"]]
    eng = row["hist_engagement"] + ["play", "trailer", "thumb_up"]  # only noise of another item after it
    with pytest.raises(LeakageError, match="the target event is inside its own history"):
        check_leakage(_with_history(tasks, 0, items, row["hist_time"] + [t, t, t], eng))
