"""Cached, resumable pipeline steps: a step is redone only when what it depends on changed.

A step's *spec* is every input that decides its output -- its config fields and the paths (hence
keys) of the steps it reads. Its directory is ``steps/<name>-<hash(spec)>``: a changed spec gets a
new directory, an unchanged one is found again. ``done.json`` is written last (atomically), so a
directory without it is a step that was interrupted: it is called again with ``resume=True`` and the
trainers continue from their last checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..atomic import write_json

DONE = "done.json"


def spec_key(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:10]


@dataclass
class StepRecord:
    name: str
    cached: bool
    wall_s: float  # how long the step took when it ran (in an earlier run if cached)


@dataclass
class Steps:
    root: Path
    log: Callable[[str], None] = print
    records: list[StepRecord] = field(default_factory=list)

    def dir_for(self, name: str, spec: dict) -> Path:
        return Path(self.root) / "steps" / f"{name}-{spec_key(spec)}"

    def run(self, name: str, spec: dict, fn: Callable[[Path, bool], dict]) -> dict:
        """``fn(step_dir, resume) -> result`` (a JSON-able dict) unless ``spec`` was done before."""
        step_dir = self.dir_for(name, spec)
        done = step_dir / DONE
        if done.exists():
            saved = json.loads(done.read_text())
            self.records.append(StepRecord(name, True, saved["wall_s"]))
            self.log(f"[cached] {name} ({saved['wall_s']:.0f}s when run)")
            return saved["result"]
        resume = step_dir.exists()
        step_dir.mkdir(parents=True, exist_ok=True)
        write_json(step_dir / "spec.json", spec)
        self.log(f"[{'resume' if resume else 'run'}] {name} -> {step_dir}")
        t0 = time.perf_counter()
        result = fn(step_dir, resume)
        wall = round(time.perf_counter() - t0, 1)
        write_json(done, {"name": name, "spec": spec, "wall_s": wall, "result": result})
        self.records.append(StepRecord(name, False, wall))
        self.log(f"[done] {name} in {wall:.0f}s")
        return result
