"""What a run saves beside its model: resolved config, data hash, package versions."""

from __future__ import annotations

import dataclasses
import platform
from importlib import metadata
from pathlib import Path

from ..atomic import write_json
from . import distributed

# every package whose numerics shape a result: a seeded run repeats exactly only on the same versions
PACKAGES = ("verbalrec", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "tokenizers",
            "sentence-transformers", "numpy", "scipy", "pandas")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def save_provenance(directory: str | Path, config, data_hash: str, extra: dict | None = None) -> None:
    """``verbalrec_run.json``, written once by the main process (every process returns after it is there)."""
    doc = {"config": dataclasses.asdict(config), "data_hash": data_hash, "versions": versions(),
           "num_processes": distributed.world_size(), **(extra or {})}
    distributed.on_main(write_json, Path(directory) / "verbalrec_run.json", doc)


def whole_run_loss(log_history: list[dict]) -> float | None:
    """Mean training loss over every logged step, each logged loss weighted by the steps it covers."""
    prev = steps = 0
    total = 0.0
    for entry in log_history:
        if "loss" in entry and "step" in entry:
            n = int(entry["step"]) - prev
            total, steps, prev = total + float(entry["loss"]) * n, steps + n, int(entry["step"])
    return total / steps if steps else None


def run_summary(train_loss: float, state, start_step: int, wall: float) -> dict:
    """Loss and time of a training call, honest about a resume. ``train_loss`` is the trainer's
    own (the mean over the steps this call ran). A resumed run is marked; its ``train_loss`` is the
    whole run's, from the logged losses its checkpoint carried, and its time is only the part that
    ran now (``wall_s_since_resume``): the killed part's time was never saved, so ``wall_s`` is None."""
    steps = state.global_step - start_step
    out = {"resumed": bool(start_step), "resumed_from_step": start_step, "steps_run": steps,
           "global_step": state.global_step, "train_loss": train_loss, "wall_s": round(wall, 1),
           "s_per_step": round(wall / max(steps, 1), 3)}
    if start_step:
        out.update(train_loss=whole_run_loss(state.log_history), train_loss_since_resume=train_loss,
                   wall_s=None, wall_s_since_resume=round(wall, 1))
    return out
