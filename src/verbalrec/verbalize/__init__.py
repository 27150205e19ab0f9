"""Verbalizers: history -> text. Template (the paper's baseline) and heuristic here; LLM ones
(zero-shot, action, rewrite) build on ``base.Verbalizer``."""

from ..errors import InputError
from .heuristic import HeuristicVerbalizer
from .template import TemplateVerbalizer

VERBALIZERS = ("template", "template+meta", "heuristic")


def make_verbalizer(name: str, catalog):
    if name in ("template", "template+meta"):
        return TemplateVerbalizer(catalog, metadata=name == "template+meta")
    if name == "heuristic":
        return HeuristicVerbalizer(catalog)
    raise InputError(f"unknown verbalizer '{name}'", field="verbalizer", fix=f"use one of {VERBALIZERS}")
