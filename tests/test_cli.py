"""The CLI end to end on small data; user mistakes are one line on stderr and exit code 2."""

import json

import pytest

from verbalrec.cli import main


@pytest.fixture
def events_csv(tmp_path):
    from helpers import tiny_catalog, tiny_events
    ev = tiny_events().rename(columns={"user_id": "uid", "item_id": "sku", "timestamp": "ts"})
    ev["ts"] = ev["ts"] * 1000
    ev.to_csv(tmp_path / "ev.csv", index=False)
    cat = tiny_catalog()
    cat["genres"] = cat["genres"].map("|".join)
    cat.to_csv(tmp_path / "cat.csv", index=False)
    return tmp_path


def test_build_verbalize_eval_on_own_csv(events_csv, capsys):
    d = events_csv
    assert main(["tasks", "build", str(d / "ev.csv"), "--catalog", str(d / "cat.csv"),
                 "--map", "user_id=uid,item_id=sku,timestamp=ts", "--timestamp-unit", "ms",
                 "--n-candidates", "3", "--out", str(d / "tasks"), "--quiet"]) == 0
    assert "leakage check passed" in capsys.readouterr().out
    assert main(["verbalize", str(d / "tasks"), "--limit", "1"]) == 0
    assert ", ID: i" in capsys.readouterr().out
    assert main(["eval", str(d / "tasks"), "--rankers", "random,popularity,itemknn", "--baseline", "random",
                 "--out", str(d / "res.json"), "--quiet"]) == 0
    doc = json.loads((d / "res.json").read_text())
    assert [r["system"] for r in doc["results"]] == ["random", "popularity", "itemknn"]
    assert doc["results"][1]["delta_pct_vs"] == "random" and doc["results"][0]["n"] == 6
    assert "R@1 Disc" in capsys.readouterr().out


def test_yaml_config_gives_the_column_map(events_csv):
    d = events_csv
    (d / "cfg.yaml").write_text(f"events: {d / 'ev.csv'}\ncatalog: {d / 'cat.csv'}\ntimestamp_unit: ms\n"
                                "map: {user_id: uid, item_id: sku, timestamp: ts}\n")
    assert main(["data", "convert", "--config", str(d / "cfg.yaml"), "--out", str(d / "log")]) == 0
    assert (d / "log" / "events.parquet").exists()


@pytest.mark.parametrize("argv, match", [
    (["data", "describe", "no/such.csv"], "no such file"),
    (["tasks", "build", "x.csv", "--map", "user_id", "--out", "o"], "not ours=theirs"),
    (["eval", "no/tasks/here"], "task file not found"),
    (["tasks", "build", "ml-100k", "--negatives", "hard", "--out", "o"], "field 'negatives'"),
])
def test_user_mistakes_are_one_line_errors(argv, match, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("verbalrec: error:") and match in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_demo_runs_on_ml100k(tmp_path, capsys):
    assert main(["demo", "--rankers", "random,popularity", "--out", str(tmp_path), "--quiet"]) == 0
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["results"][1]["n"] == 943 and doc["results"][1]["recall@1_discovery"] > 0.2


def test_every_command_has_working_help(capsys):
    import argparse
    from verbalrec.cli import build_parser

    def walk(parser):
        parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)
    walk(build_parser())


def test_eval_llm_reasoners_and_lm_verbalizer_with_a_tiny_model(events_csv, tmp_path, capsys):
    from verbalrec.models import build_and_save
    d = events_csv
    assert main(["tasks", "build", str(d / "ev.csv"), "--catalog", str(d / "cat.csv"),
                 "--map", "user_id=uid,item_id=sku,timestamp=ts", "--timestamp-unit", "ms",
                 "--n-candidates", "3", "--out", str(d / "tasks"), "--quiet"]) == 0
    model = build_and_save(["Title 1, Play, A. Title 2"] * 20, tmp_path / "tiny", "tiny", seed=0)
    assert main(["eval", str(d / "tasks"), "--rankers", "popularity,label,generative", "--model", str(model),
                 "--verbalizers", "template,heuristic,zero-shot", "--verbalizer-model", str(model),
                 "--cache", str(tmp_path / "cache.sqlite"), "--baseline", "template/label",
                 "--out", str(tmp_path / "r.json"), "--quiet", "--max-length", "512"]) == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    systems = [r["system"] for r in doc["results"]]
    assert systems == ["popularity"] + [f"{v}/{r}" for r in ("label", "generative")
                                        for v in ("template", "heuristic", "zero-shot")]
    by = {r["system"]: r for r in doc["results"]}
    assert by["template/label"]["compression_ratio"] == 1.0 and by["heuristic/label"]["compression_ratio"] > 0
    assert by["zero-shot/generative"]["delta_pct_vs"] == "template/label"
    assert main(["eval", str(d / "tasks"), "--rankers", "label"]) == 2  # no --model: a clear error
    assert "need a language model" in capsys.readouterr().err
