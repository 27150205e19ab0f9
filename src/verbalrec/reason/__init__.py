"""Reasoners: one interface (``base``), classical baselines and SASRec as rankers."""

from .base import Reasoner, Scores
from .baselines import ItemKNNRanker, PopularityRanker, RandomRanker

__all__ = ["EMBEDDING_MODE", "ENDPOINT_MODES", "LM_MODES", "READER_MODES", "RANKERS", "ItemKNNRanker",
           "PopularityRanker", "RandomRanker", "Reasoner", "Scores", "is_endpoint", "make_ranker", "make_reasoner"]

RANKERS = ("random", "popularity", "itemknn", "sasrec")
#: The one vocabulary of LM reasoner modes: `eval --rankers`, Stage 1's `oracle_mode`, reproduce's
#: `reasoner_mode` and bench/ all use these names. Local causal LMs: candidate likelihood (the
#: in-project default), label scoring, generation; an OpenAI-compatible endpoint: label
#: log-probs or generation.
#: mode -> its class in ``reason.lm`` (imported when one is made: it needs torch). A new local mode
#: is one entry here.
_LM_CLASSES = {"likelihood": "CandidateLikelihoodReasoner", "label": "LabelScoringReasoner",
               "generative": "GenerativeReasoner"}
LM_MODES = tuple(_LM_CLASSES)
ENDPOINT_MODES = ("logprobs", "generative")
#: Frozen readers that are not causal LMs, usable as Stage 1's oracle: ``embedding`` (a
#: sentence-transformers model, MiniLM by default: context and candidate titles embedded, ranked by
#: cosine; capacity 256 word pieces) and ``itemknn-text`` (item-kNN over the history items the text
#: still names, the last 20: it needs ``fit(train)``; its model argument is ignored).
EMBEDDING_MODE = "embedding"
READER_MODES = (EMBEDDING_MODE, "itemknn-text")


def is_endpoint(model: str) -> bool:
    return str(model).startswith(("http://", "https://"))


def make_reasoner(mode: str, model, catalog, *, max_length: int = 2048, batch_size: int = 8,
                  progress: bool = False, served_model: str = "", cache_path: str | None = None):
    """The LM Reasoner of ``mode`` over ``model``: a local model (directory, hub name, ``.gguf``,
    ``gemma3-270m``, or an already loaded ``(model, tokenizer)``) or an endpoint URL; mode
    ``embedding``: a sentence-transformers name or directory (e.g. ``all-MiniLM-L6-v2``)."""
    from ..errors import InputError
    if mode == EMBEDDING_MODE:
        from .embedding import EmbeddingReasoner, load_embedding_model
        return EmbeddingReasoner(load_embedding_model(model), catalog, batch_size=max(batch_size, 64))
    if mode == "itemknn-text":
        from .baselines import TextItemKNNRanker
        return TextItemKNNRanker(catalog)
    if isinstance(model, str) and is_endpoint(model):
        if mode not in ENDPOINT_MODES:
            raise InputError(f"unknown endpoint reasoner mode '{mode}'", field="mode",
                             fix=f"use one of {', '.join(ENDPOINT_MODES)}")
        from .endpoint import EndpointConfig, EndpointReasoner
        conf = EndpointConfig(base_url=model, model=served_model, mode=mode,
                              **({"cache_path": cache_path} if cache_path else {}))
        return EndpointReasoner(conf, catalog)
    if mode not in LM_MODES:
        raise InputError(f"unknown reasoner mode '{mode}'", field="mode",
                         fix=f"use one of {', '.join(LM_MODES + READER_MODES)}")
    from . import lm as lm_reasoners
    lm, tokenizer = model if isinstance(model, tuple) else load_model(model)
    cls = getattr(lm_reasoners, _LM_CLASSES[mode])
    return cls(lm, tokenizer, catalog, max_length=max_length, batch_size=batch_size, progress=progress)


_LOADED: dict[str, tuple] = {}


def load_model(name: str):
    """(model, tokenizer) on the GPU when there is one, loaded once per process; ``gemma3-270m``
    is the shipped Gemma GGUF. Reasoners are frozen: no gradients."""
    if name not in _LOADED:
        import torch

        from ..models import gemma_gguf_path, load_causal_lm
        model, tok = load_causal_lm(gemma_gguf_path() if name == "gemma3-270m" else name,
                                    device="cuda" if torch.cuda.is_available() else "cpu")
        _LOADED[name] = (model, tok)
    return _LOADED[name]


def make_ranker(name: str, seed: int = 0):
    from ..errors import InputError
    if name == "random":
        return RandomRanker(seed)
    if name == "popularity":
        return PopularityRanker()
    if name == "itemknn":
        return ItemKNNRanker()
    if name == "sasrec":
        from .sasrec import SASRecConfig, SASRecRanker
        return SASRecRanker(SASRecConfig(seed=seed))
    raise InputError(f"unknown ranker '{name}'", field="rankers", fix=f"use some of {','.join(RANKERS)}")
