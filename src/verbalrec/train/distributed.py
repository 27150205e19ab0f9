"""Several training processes, one writer (``accelerate launch --num_processes N``).

Under accelerate (torchrun underneath) every process runs the whole ``verbalrec train`` command.
transformers/TRL already write checkpoints and the trained weights from the main process only
(``TrainingArguments.should_save``); what verbalrec writes itself -- the run directory check, a
freshly built model, tokenizer files, ``verbalrec_run.json``, LangPTune's embedding model -- goes
through these helpers (the Stage 2 verbalization cache is filled by every process, each its share).
In one process every helper is a no-op, so single-process runs are unchanged and never start a
process group.
"""

from __future__ import annotations

import atexit
import os
import sys


def world_size() -> int:
    """Processes in this run, as the launcher set them (1 outside a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def _state():
    """accelerate's process state, made as the Trainer will make it (CPU runs use gloo).
    Making it early also pins each process to its own GPU (``cuda`` = ``cuda:LOCAL_RANK``), so
    models loaded before the Trainer (the oracle, a frozen verbalizer) land on the right device."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


@atexit.register
def _leave() -> None:
    """At exit, leave the process group (not a collective: no process waits for the others).
    Without it the interpreter's exit can abort in gloo's threads ("terminate called without an
    active exception": 2 runs in 3 with two processes on one core), and the launcher then fails
    the whole run."""
    dist = sys.modules.get("torch.distributed")  # never imported: no group to leave
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def init() -> None:
    """Join the process group now (a no-op in one process)."""
    if world_size() > 1:
        _state()


def process_index() -> int:
    """This process's rank (0 in a single-process run)."""
    return 0 if world_size() == 1 else _state().process_index


def share(n: int) -> list[int]:
    """This process's share of ``range(n)`` (every ``world_size``-th index)."""
    return list(range(process_index(), n, world_size()))


def is_main_process() -> bool:
    """True in the one process that writes (rank 0; always in a single-process run)."""
    return world_size() == 1 or _state().is_main_process


def barrier() -> None:
    """Every process waits here until all have arrived (a no-op in one process)."""
    if world_size() > 1:
        _state().wait_for_everyone()


def gather_objects(items: list) -> list:
    """Every process's ``items``, concatenated in rank order, on every process."""
    if world_size() == 1:
        return list(items)
    from accelerate.utils import gather_object

    _state()
    return gather_object(list(items))


def on_main(fn, *args, **kwargs):
    """``fn`` run by the main process once every process has got here; all leave together, so the
    others see what it wrote (and none of them looked before it wrote). Returns fn's value on
    the main process, None on the others."""
    barrier()
    result = fn(*args, **kwargs) if is_main_process() else None
    barrier()  # not reached if fn failed: the launcher then stops the waiting processes
    return result


def broadcast_parameters(model) -> None:
    """Copy the main process's weights of ``model`` into every process (after an update that only
    the main process made)."""
    if world_size() == 1:
        return
    from accelerate.utils import broadcast

    _state()
    broadcast([p.data for p in model.parameters()], from_process=0)  # in place
