"""Tasks: protocols, chronological splits, negatives, the leakage check, task files."""

from .build import build_tasks
from .leakage import check_leakage
from .protocol import PRESETS, TaskProtocol, preset
from .schema import TASK_SCHEMA, Task, TaskSet
from .store import load_tasks, save_tasks

__all__ = ["PRESETS", "TASK_SCHEMA", "Task", "TaskProtocol", "TaskSet", "build_tasks", "check_leakage",
           "load_tasks", "preset", "save_tasks"]
