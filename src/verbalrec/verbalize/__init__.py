"""Verbalizers: history -> text. Template (the paper's baseline) and heuristic need no model;
zero-shot and the trainable kinds (rewrite, action: ``kinds.TRAINABLE``) run a causal LM: ``lm`` is
a loaded ``(model, tokenizer)``.

``make_verbalizer(name, catalog, lm)`` is the one registry of verbalizer names: a rule verbalizer
is one entry in ``_RULES``; a trainable kind is one entry in ``kinds.TRAINABLE``."""

from ..errors import InputError
from .heuristic import HeuristicVerbalizer
from .kinds import KINDS, TRAINABLE, make_policy_verbalizer
from .template import TemplateVerbalizer


def _mix(name: str):
    def build(catalog):
        from . import mix
        return {"titles": mix.TitlesVerbalizer, "sentences": mix.SentencesVerbalizer}[name](catalog)
    return build


def _zero_shot(*args, **kw):
    from .llm import ZeroShotVerbalizer
    return ZeroShotVerbalizer(*args, **kw)


#: verbalizers without a model: ``build(catalog)``
_RULES = {"template": TemplateVerbalizer, "template+meta": lambda catalog: TemplateVerbalizer(catalog, metadata=True),
          "heuristic": HeuristicVerbalizer, "titles": _mix("titles"), "sentences": _mix("sentences")}
#: verbalizers that run a causal LM: ``build(model, tokenizer, catalog, **kw)``
_LMS = {"zero-shot": _zero_shot, **{name: kind.policy for name, kind in TRAINABLE.items()}}
RULE_VERBALIZERS = tuple(_RULES)
LM_VERBALIZERS = tuple(_LMS)
VERBALIZERS = RULE_VERBALIZERS + LM_VERBALIZERS

__all__ = ["KINDS", "LM_VERBALIZERS", "RULE_VERBALIZERS", "TRAINABLE", "VERBALIZERS", "make_policy_verbalizer",
           "make_verbalizer"]


def make_verbalizer(name: str, catalog, lm: tuple | None = None, **kw):
    if name in _RULES:
        return _RULES[name](catalog)
    if name in _LMS:
        if lm is None:
            raise InputError(f"verbalizer '{name}' needs a language model", field="verbalizer-model",
                             fix="pass --verbalizer-model DIR")
        return _LMS[name](*lm, catalog, **kw)
    raise InputError(f"unknown verbalizer '{name}'", field="verbalizer", fix=f"use one of {VERBALIZERS}")
