"""User-facing errors: one line that names the file, the row or field, and the fix."""

from __future__ import annotations


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
        super().__init__(text)


class LeakageError(InputError):
    """A task set would let the model see the future or train on test targets."""
