"""Low-level file reading shared by the loaders: encoding checks and delimited text."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from ..errors import InputError


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """Read a whole text file; a decoding error names the line and the fix."""
    if not path.exists():
        raise InputError("file not found", file=path, fix="check the path")
    data = path.read_bytes()
    if not data.strip():
        raise InputError("file is empty", file=path, fix="point at a file with data")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise InputError(f"byte 0x{data[err.start]:02x} is not valid {encoding}", file=path, row=line,
                         fix="pass --encoding latin-1 (or the file's real encoding)") from None


def read_delimited(path: Path, sep: str, *, names: list[str] | None = None, encoding: str = "utf-8",
                   header: bool = True) -> pd.DataFrame:
    """Read a delimited text file as strings (types are checked later, with row numbers)."""
    text = read_text(path, encoding)
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, header=0 if header else None, names=names,
                           dtype=str, keep_default_na=False, na_values=[""], engine="python" if len(sep) > 1 else "c",
                           quoting=3 if sep in ("\t", "::", "|") else 0)
    except pd.errors.ParserError as err:
        raise InputError(f"cannot parse: {str(err).splitlines()[-1]}", file=path,
                         fix=f"check that columns are separated by {sep!r}") from None
