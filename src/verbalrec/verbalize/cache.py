"""A persistent verbalization cache, so nothing is generated twice.

Key = (verbalizer name, version, sha256 of the task's history). SQLite gives atomic, crash-safe
writes and safe concurrent readers without a server."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Sequence

from ..tasks.schema import Task


def history_hash(task: Task) -> str:
    payload = json.dumps([task.hist_item, task.hist_time, task.hist_engagement, task.hist_duration,
                          task.hist_device], default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


class VerbalizationCache:
    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path))
        self.db.execute("CREATE TABLE IF NOT EXISTS v (verbalizer TEXT, version TEXT, history TEXT, text TEXT, "
                        "PRIMARY KEY (verbalizer, version, history))")

    def get(self, name: str, version: str, keys: Sequence[str]) -> dict[str, str]:
        out = {}
        for i in range(0, len(keys), 500):
            chunk = list(keys[i:i + 500])
            rows = self.db.execute(f"SELECT history, text FROM v WHERE verbalizer=? AND version=? AND history IN "
                                   f"({','.join('?' * len(chunk))})", [name, version, *chunk])
            out.update(dict(rows.fetchall()))
        return out

    def put(self, name: str, version: str, items: dict[str, str]) -> None:
        with self.db:  # one transaction: all or nothing
            self.db.executemany("INSERT OR REPLACE INTO v VALUES (?, ?, ?, ?)",
                                [(name, version, k, t) for k, t in items.items()])


class CachedVerbalizer:
    """Wraps any verbalizer; only histories missing from the cache reach it."""

    def __init__(self, inner, cache: VerbalizationCache):
        self.inner, self.cache = inner, cache
        self.name, self.version = inner.name, inner.version
        self.misses = 0

    def verbalize(self, tasks: Sequence[Task]) -> list[str]:
        keys = [history_hash(t) for t in tasks]
        found = self.cache.get(self.name, self.version, keys)
        todo = [i for i, k in enumerate(keys) if k not in found]
        if todo:
            self.misses += len(todo)
            texts = self.inner.verbalize([tasks[i] for i in todo])
            new = {keys[i]: t for i, t in zip(todo, texts)}
            self.cache.put(self.name, self.version, new)
            found.update(new)
        return [found[k] for k in keys]
