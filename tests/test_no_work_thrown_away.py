"""A mistake in the command line is found before the work, not after it."""

import json

import pandas as pd
import pytest

import verbalrec.evaluate.run as run
from verbalrec.cli import main
from verbalrec.errors import InputError
from verbalrec.tasks import build_tasks, preset, save_tasks


@pytest.fixture
def task_dir(tmp_path, tiny_log):
    save_tasks(build_tasks(tiny_log, preset("paper", n_candidates=3), progress=False), tmp_path / "tasks")
    return tmp_path / "tasks"


@pytest.fixture
def scored(monkeypatch):
    """Names of the systems the eval loop scored."""
    names, real = [], run.evaluate

    def counting(test, reasoner, verbalizer=None, **kw):
        names.append(reasoner.name)
        return real(test, reasoner, verbalizer, **kw)

    monkeypatch.setattr(run, "evaluate", counting)
    return names


def test_eval_with_the_default_baseline_and_one_ranker_writes_its_results(task_dir, tmp_path, scored):
    assert main(["eval", str(task_dir), "--rankers", "popularity", "--out", str(tmp_path / "r.json"), "--quiet"]) == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [r["system"] for r in doc["results"]] == ["popularity"] and scored == ["popularity"]


def test_eval_default_baseline_is_random_when_it_is_scored(task_dir, tmp_path):
    assert main(["eval", str(task_dir), "--rankers", "random,popularity", "--out", str(tmp_path / "r.json"),
                 "--quiet"]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["results"][1]["delta_pct_vs"] == "random"


@pytest.mark.parametrize("argv, match", [
    (["--rankers", "popularity,itemknn", "--baseline", "random"], r"baseline 'random' is not among.*popularity"),
    (["--rankers", "popularity,bogus"], "unknown ranker 'bogus'"),
    (["--rankers", "popularity,label", "--model", "m", "--verbalizers", "template,nope"], "unknown verbalizer 'nope'"),
])
def test_eval_mistakes_fail_before_anything_is_scored(task_dir, scored, capsys, argv, match):
    assert main(["eval", str(task_dir), *argv, "--quiet"]) == 2
    assert scored == [] and match.split(".*")[0].replace("\\", "") in capsys.readouterr().err


def test_the_baseline_of_an_lm_run_is_checked_by_its_planned_name(task_dir, scored):
    with pytest.raises(InputError, match=r"baseline 'template/label' is not among .*'heuristic/likelihood'"):
        run.run_eval(__import__("verbalrec.tasks", fromlist=["load_tasks"]).load_tasks(task_dir),
                     ["likelihood"], ["heuristic"], baseline="template/label", model="no/such/model")
    assert scored == []


def test_more_candidates_than_catalog_items_fail_before_building(tmp_path, capsys):
    ev = pd.DataFrame({"user_id": [f"u{i % 8}" for i in range(200)], "item_id": [f"i{i % 80}" for i in range(200)],
                       "timestamp": [1_700_000_000 + i for i in range(200)]})
    ev.to_csv(tmp_path / "ev.csv", index=False)
    assert main(["tasks", "build", str(tmp_path / "ev.csv"), "--n-candidates", "100", "--out",
                 str(tmp_path / "t"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "field 'n_candidates'" in err and "80 items" in err and "--n-candidates" in err
    assert not (tmp_path / "t").exists()


def test_a_build_that_keeps_no_task_is_an_error_not_a_success(tmp_path, capsys):
    # 12 items, every user saw 11 of them before the last target: no room for 9 unseen negatives
    rows = [(f"u{u}", 1_700_000_000 + 100 * u + k, f"i{(u + k) % 12}") for u in range(4) for k in range(12)]
    pd.DataFrame(rows, columns=["user_id", "timestamp", "item_id"]).to_csv(tmp_path / "ev.csv", index=False)
    assert main(["tasks", "build", str(tmp_path / "ev.csv"), "--n-candidates", "10", "--train-tasks-per-user", "0",
                 "--out", str(tmp_path / "t"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no test task" in err and "unseen" in err and "leakage check passed" not in err
    assert not (tmp_path / "t").exists()
