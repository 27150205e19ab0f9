"""The GPU recipes in docs/ are valid configs (we cannot run them here: no GPU): every stage config
builds its trl.GRPOConfig, and every key of the accelerate configs is one the installed accelerate
knows."""

from pathlib import Path

import pytest
import yaml

from verbalrec.train.grpo_config import Stage1Config, Stage2Config
from verbalrec.train.grpo_config import trl_args

CONFIGS = Path(__file__).parents[1] / "docs" / "configs"


@pytest.mark.parametrize("name, cls", [("stage1-qwen3-8b.yaml", Stage1Config), ("stage1-qwen3-8b-server.yaml", Stage1Config),
                                       ("stage2-qwen3-8b.yaml", Stage2Config)])
def test_gpu_configs_validate_and_map_onto_trl(name, cls, tmp_path):
    # Stage 2 checks that its verbalizer directory exists: stand in for the Stage 1 output
    overrides = {"verbalizer": str(tmp_path)} if cls is Stage2Config else {}
    cfg = cls.from_yaml(CONFIGS / name, **overrides)
    args = trl_args(cfg, tmp_path, [1.0] * 3)  # trl_overrides are real GRPOConfig fields
    assert cfg.bf16 and args.gradient_checkpointing
    if cls is Stage1Config:
        assert cfg.use_vllm and args.vllm_mode == cfg.vllm_mode and cfg.oracle_async
    else:  # candidate rollouts never use vLLM: an engine would only take memory
        assert cfg.rollout == "candidates" and not cfg.use_vllm and cfg.lora_r > 0
    if cfg.vllm_mode == "server":
        assert args.vllm_server_base_url.startswith("http")


def _launch_options() -> set[str]:
    from accelerate.commands.launch import launch_command_parser
    return {a.dest for a in launch_command_parser()._actions}


@pytest.mark.parametrize("name, kind, section", [("accelerate-zero3.yaml", "DEEPSPEED", "deepspeed_config"),
                                                 ("accelerate-fsdp2.yaml", "FSDP", "fsdp_config")])
def test_accelerate_configs_load_and_every_key_is_known(name, kind, section):
    from accelerate.commands.config.config_args import load_config_from_file
    cfg = load_config_from_file(str(CONFIGS / name))  # unknown top-level keys raise here
    assert cfg.distributed_type == kind and cfg.mixed_precision == "bf16"
    nested = yaml.safe_load((CONFIGS / name).read_text())[section]
    assert set(nested) <= _launch_options()  # nested keys become launch options: a typo would be ignored
    if kind == "FSDP":
        assert nested["fsdp_version"] == 2 and nested["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    else:
        assert nested["zero_stage"] == 3 and nested["zero3_save_16bit_model"]
