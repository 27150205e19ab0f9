"""Reasoners: one interface (``base``), classical baselines and SASRec as rankers."""

from .base import Reasoner, Scores
from .baselines import ItemKNNRanker, PopularityRanker, RandomRanker

__all__ = ["RANKERS", "ItemKNNRanker", "PopularityRanker", "RandomRanker", "Reasoner", "Scores", "make_ranker"]

RANKERS = ("random", "popularity", "itemknn", "sasrec")


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
