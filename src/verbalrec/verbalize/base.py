"""The Verbalizer interface: histories -> text, batched, with a name and version for caches."""

from __future__ import annotations

from typing import Protocol, Sequence

from ..tasks.schema import Task


class Verbalizer(Protocol):
    name: str
    version: str

    def verbalize(self, tasks: Sequence[Task]) -> list[str]: ...
