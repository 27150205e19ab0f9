"""Config dataclasses <-> CLI flags and YAML, using each field's ``help`` metadata."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path

import yaml

from .errors import InputError


def _parser_for(hint):
    origin = typing.get_origin(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and args:
        return _parser_for(args[0])
    if origin is tuple:
        inner = args[0] if args else str
        return lambda s: tuple(inner(x) for x in s.split(","))
    if hint is bool:
        return lambda s: s.lower() in ("1", "true", "yes", "on")
    if hint in (int, float, str):
        return hint
    return None


def add_fields(parser: argparse.ArgumentParser, cls, exclude: tuple[str, ...] = ()) -> None:
    """One ``--field-name`` flag per dataclass field (default None: 'not given')."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        conv = _parser_for(hints[f.name])
        if f.name in exclude or conv is None:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=conv, default=None,
                            help=f"{f.metadata.get('help', '')} (default: {default})".replace("%", "%%"))


def given(args: argparse.Namespace, cls) -> dict:
    """The dataclass fields the user set on the command line."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
            if getattr(args, f.name, None) is not None}


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise InputError("config file not found", file=path, fix="check the --config path")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise InputError(f"not valid YAML ({str(err).splitlines()[0]})", file=path, fix="fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise InputError("top level must be a mapping", file=path, fix="write key: value lines")
    return data


def parse_map(text: str | None, flag: str) -> dict[str, str]:
    """``user_id=uid,timestamp=ts`` -> {'user_id': 'uid', 'timestamp': 'ts'}."""
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        ours, sep, theirs = part.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise InputError(f"'{part}' is not ours=theirs", field=flag, fix=f"write {flag} user_id=uid,item_id=sku")
        out[ours.strip()] = theirs.strip()
    return out


# ------------------------------------------------------------------ the config toolkit every stage uses
# TRL's idiom: ``name: int = field(default=..., metadata={"help": ...})``, validated in __post_init__.

def help_meta(text: str) -> dict:
    """A field's metadata: its ``help`` string (``add_fields`` turns it into a CLI flag's help)."""
    return {"help": text}


def help_field(default, text: str, **metadata):
    """A dataclass field with a default and a help string (extra ``metadata``, e.g. a range, kept)."""
    return dataclasses.field(default=default, metadata={**help_meta(text), **metadata})


def check(ok: bool, problem: str, name: str, fix: str) -> None:
    """``__post_init__`` validation: an ``InputError`` naming the field and the fix."""
    if not ok:
        raise InputError(problem, field=name, fix=fix)


def yaml_with_overrides(path: str | Path, **overrides) -> dict:
    """A YAML config's fields with the ``overrides`` that are not None (e.g. CLI flags that were given) on top."""
    return {**read_yaml(path), **{k: v for k, v in overrides.items() if v is not None}}
