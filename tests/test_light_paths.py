"""Commands that need no model load none: `data describe` and `tasks build` never import torch."""

import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")
CHECK = ("import sys; from verbalrec.cli import main; rc = main(sys.argv[1:]); "
         "heavy = sorted(m for m in ('torch', 'transformers', 'trl') if m in sys.modules); "
         "print('HEAVY', heavy); sys.exit(rc or bool(heavy))")


@pytest.fixture
def events_csv(tmp_path):
    from helpers import tiny_catalog, tiny_events
    tiny_events().to_csv(tmp_path / "ev.csv", index=False)
    cat = tiny_catalog()
    cat["genres"] = cat["genres"].map("|".join)
    cat.to_csv(tmp_path / "cat.csv", index=False)
    return tmp_path


def _run(args: list[str]) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", CHECK, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("command", [["data", "describe"], ["tasks", "build"]])
def test_light_commands_do_not_import_torch(events_csv, command):
    d = events_csv
    args = [*command, str(d / "ev.csv"), "--catalog", str(d / "cat.csv")]
    if command[0] == "tasks":
        args += ["--n-candidates", "3", "--out", str(d / "tasks"), "--quiet"]
    done = _run(args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "HEAVY []" in done.stdout
