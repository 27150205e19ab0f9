"""scripts/gpu_smoke.sh, its CPU-safe parts: imports, arguments, configs and the plan (--dry-run);
without a GPU it stops with the fix. The GPU run itself is recorded in docs/measurements.md."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SCRIPT = ROOT / "scripts" / "gpu_smoke.sh"


def smoke(*args, **env):
    full = {**os.environ, "PYTHON": sys.executable,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]), **env}
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], capture_output=True, text=True, env=full, timeout=300)


def module():
    spec = importlib.util.spec_from_file_location("gpu_smoke", ROOT / "scripts" / "gpu_smoke.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_dry_run_checks_imports_and_every_config_and_prints_the_plan(tmp_path):
    proc = smoke("--dry-run", "--out", tmp_path / "w")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "imports: torch" in out and "trl" in out and "configs: ok" in out and "dry run: nothing trained" in out
    for stage in ("train warmstart", "--size medium", "train verbalizer", "train reasoner", "--bf16 true", "eval "):
        assert stage in out, stage
    assert out.count("--max-steps 20 ") == 2  # 20 Stage 1 and 20 Stage 2 steps
    assert not (tmp_path / "w").exists()  # a dry run writes nothing


def test_without_a_gpu_it_stops_and_says_how_to_run_the_cpu_checks(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the script would run")
    proc = smoke("--out", tmp_path / "w")
    assert proc.returncode == 4 and "no CUDA GPU" in proc.stderr and "--dry-run" in proc.stderr


@pytest.mark.parametrize("args, field", [(["--steps", "0"], "steps"), (["--budget-s", "-1"], "budget-s")])
def test_bad_arguments_are_one_line_naming_the_field(args, field):
    proc = smoke("--dry-run", *args)
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("gpu_smoke: error:") and f"field '{field}'" in line and "fix:" in line


def test_a_missing_package_is_named_with_what_to_install():
    problems = module().missing_imports(["torch", "trl", "no_such_package_xyz", "vllm"])
    assert not any("torch" in p or "missing trl" in p for p in problems)  # installed here
    assert "missing no_such_package_xyz: pip install no_such_package_xyz" in problems
    if importlib.util.find_spec("vllm") is None:
        assert any(p.startswith("missing vllm: pip install 'trl[vllm]'") for p in problems)
