"""User-facing errors: one line that names the file, the row or field, and the fix."""

from __future__ import annotations

import re

# line breaks of every kind (CR, LF, VT, FF, FS..US, NEL, LS, PS) and other C0/C1 control characters
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def shown(value: object, limit: int = 60) -> str:
    """A user's value as an error shows it: one line, at most ``limit`` characters."""
    text = _BREAKS.sub(" ", str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


class InputError(ValueError):
    """A user's input is wrong; the CLI prints ``str(err)`` and exits 2, never a traceback."""

    def __init__(self, problem: str, *, file: object = None, row: int | None = None,
                 field: str | None = None, fix: str | None = None):
        self.problem, self.file, self.row, self.field, self.fix = problem, file, row, field, fix
        where = ", ".join(p for p in (
            f"{file}" if file is not None else None,
            f"row {row}" if row is not None else None,
            f"field '{field}'" if field is not None else None,
        ) if p)
        text = f"{where}: {problem}" if where else problem
        if fix:
            text += f" — fix: {fix}"
        super().__init__(_BREAKS.sub(" ", text))  # one line, whatever a value held


class LeakageError(InputError):
    """A task set would let the model see the future or train on test targets."""
