"""Verbalizers: history -> text. Template (the paper's baseline) and heuristic need no model;
zero-shot, rewrite and action run a causal LM: ``lm`` is a loaded ``(model, tokenizer)``."""

from ..errors import InputError
from .heuristic import HeuristicVerbalizer
from .template import TemplateVerbalizer

RULE_VERBALIZERS = ("template", "template+meta", "heuristic", "titles", "sentences")
LM_VERBALIZERS = ("zero-shot", "rewrite", "action")
VERBALIZERS = RULE_VERBALIZERS + LM_VERBALIZERS


def make_verbalizer(name: str, catalog, lm: tuple | None = None, **kw):
    if name in ("template", "template+meta"):
        return TemplateVerbalizer(catalog, metadata=name == "template+meta")
    if name == "heuristic":
        return HeuristicVerbalizer(catalog)
    if name in ("titles", "sentences"):
        from .mix import SentencesVerbalizer, TitlesVerbalizer
        return (TitlesVerbalizer if name == "titles" else SentencesVerbalizer)(catalog)
    if name in LM_VERBALIZERS:
        if lm is None:
            raise InputError(f"verbalizer '{name}' needs a language model", field="verbalizer-model",
                             fix="pass --verbalizer-model DIR")
        from .action import ActionVerbalizer
        from .llm import RewriteVerbalizer, ZeroShotVerbalizer
        cls = {"zero-shot": ZeroShotVerbalizer, "rewrite": RewriteVerbalizer, "action": ActionVerbalizer}[name]
        return cls(*lm, catalog, **kw)
    raise InputError(f"unknown verbalizer '{name}'", field="verbalizer", fix=f"use one of {VERBALIZERS}")
