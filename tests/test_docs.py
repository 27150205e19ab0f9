"""The GPU recipes in docs/ are valid configs (we cannot run them here: no GPU)."""

from pathlib import Path

import pytest

from verbalrec.train.grpo import Stage1Config, Stage2Config

CONFIGS = Path(__file__).parents[1] / "docs" / "configs"


@pytest.mark.parametrize("name, cls", [("stage1-qwen3-8b.yaml", Stage1Config), ("stage2-qwen3-8b.yaml", Stage2Config)])
def test_gpu_configs_validate(name, cls, tmp_path):
    # Stage 2 checks that its verbalizer directory exists: stand in for the Stage 1 output
    overrides = {"verbalizer": str(tmp_path)} if cls is Stage2Config else {}
    cfg = cls.from_yaml(CONFIGS / name, **overrides)
    assert cfg.use_vllm and cfg.lora_r > 0 and cfg.bf16
