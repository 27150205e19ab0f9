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
    times[3] = [10**12] * len(times[3])
    pq.write_table(_replace(tasks.table, "hist_time", times), tmp_path / "leaky.parquet")
    with pytest.raises(LeakageError, match="leaky.parquet.*field 'hist_time'"):
        load_tasks(tmp_path / "leaky.parquet")
