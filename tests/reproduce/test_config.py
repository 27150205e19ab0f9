import pytest

from verbalrec.errors import InputError
from verbalrec.reproduce import ReproduceConfig, load_config, preset_names
from verbalrec.reproduce.config import stage_config, stage_configs


def test_every_preset_validates_with_every_stage_config():
    assert {"ml100k-cpu", "synthetic-cpu", "gpu"} <= set(preset_names())
    for name in preset_names():
        cfg = load_config(name)
        assert cfg.name == name
        for section, cls in stage_configs().items():
            built = stage_config(cfg, section, cls)
            for key, value in getattr(cfg, section).items():
                expected = tuple(value) if isinstance(value, list) else value
                assert getattr(built, key) == expected, (name, section, key)


def test_gpu_preset_is_the_papers_setting():
    cfg = load_config("gpu")
    stage1 = stage_config(cfg, "stage1", stage_configs()["stage1"], oracle=cfg.oracle)
    assert cfg.stage1_oracle_is_endpoint and stage1.use_vllm and stage1.lora_r > 0
    assert cfg.history_len == 100 and cfg.eval_limit == 0 and not cfg.verbalizer_sft


def test_cpu_preset_overrides_win_and_flags_override_yaml(tmp_path):
    cfg = load_config("ml100k-cpu", out=str(tmp_path), eval_limit=7)
    assert cfg.out == str(tmp_path) and cfg.eval_limit == 7 and cfg.history_len == 20


@pytest.mark.parametrize("section, overrides, field", [
    ("stage1", {"max_stepz": 3}, "stage1.max_stepz"),
    ("stage1", {"policy": "x"}, "stage1.policy"),
    ("stage2", {"num_generations": 1}, "stage2.num_generations"),
    ("sft", {"max_length": 10, "max_prompt_length": 64}, "sft.max_length"),
    ("warmstart", {"size": "huge", "verbalizers": ["nope"]}, "warmstart.verbalizers"),
])
def test_bad_stage_overrides_name_the_field(section, overrides, field):
    with pytest.raises(InputError) as err:
        ReproduceConfig(**{section: overrides})
    assert err.value.field == field and err.value.fix


def test_bad_top_level_values(tmp_path):
    with pytest.raises(InputError, match="kinds"):
        ReproduceConfig(kinds=("rewrite", "summary"))
    with pytest.raises(InputError, match="reasoner_mode"):
        ReproduceConfig(reasoner_mode="vibes")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstage3: {}\n")
    with pytest.raises(InputError) as err:
        load_config(str(bad))
    assert err.value.field == "stage3" and str(bad) in str(err.value)
    with pytest.raises(InputError, match="neither a preset nor a YAML file"):
        load_config("ml100k-gpu")
    with pytest.raises(InputError, match="neither a preset nor a YAML file"):
        load_config(str(tmp_path))  # a folder


def test_a_preset_name_wins_over_a_folder_of_that_name(tmp_path, monkeypatch):
    (tmp_path / "ml100k-cpu").mkdir()  # e.g. the run folder of an earlier run
    monkeypatch.chdir(tmp_path)
    assert load_config("ml100k-cpu").name == "ml100k-cpu"


def test_cli_reports_a_bad_config_in_one_line(tmp_path, capsys):
    from verbalrec.cli import main
    assert main(["reproduce", "--config", "no-such-preset", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no-such-preset" in err[0] and "ml100k-cpu" in err[0]
    assert main(["reproduce", "--config", "ml100k-cpu", "--split", "train", "--out", str(tmp_path)]) == 2
    assert "field 'split'" in capsys.readouterr().err
