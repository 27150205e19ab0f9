"""One evaluation run: classical rankers once, LLM reasoners x verbalizers, on one split."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..compression import char_ratios
from ..errors import InputError
from ..reason import LM_MODES, load_model, make_ranker, make_reasoner
from ..tasks.schema import TaskSet
from ..verbalize import LM_VERBALIZERS, make_verbalizer
from ..verbalize.template import TemplateVerbalizer
from .loop import evaluate
from .table import results_json


def make_cached_verbalizer(name: str, catalog, model: str | None, cache: str | None):
    """LM verbalizers go through the persistent cache, so nothing is generated twice."""
    if name in LM_VERBALIZERS and model:
        verbalizer = make_verbalizer(name, catalog, load_model(model), version_tag=Path(model).name)
    else:
        verbalizer = make_verbalizer(name, catalog)
    if cache and name in LM_VERBALIZERS:
        from ..verbalize.cache import CachedVerbalizer, VerbalizationCache
        verbalizer = CachedVerbalizer(verbalizer, VerbalizationCache(cache))
    return verbalizer


def planned_systems(rankers: list[str], verbalizers: list[str]) -> list[str]:
    """The names of the systems ``run_eval`` will score, in order, known before any work:
    classical rankers by name, LLM reasoners as ``verbalizer/reasoner``."""
    from ..reason import RANKERS
    from ..verbalize import VERBALIZERS
    for name in rankers:
        if name not in RANKERS + LM_MODES:
            raise InputError(f"unknown ranker '{name}'", field="rankers",
                             fix=f"use some of {','.join(RANKERS + LM_MODES)}")
    if any(r in LM_MODES for r in rankers):
        for name in verbalizers:
            if name not in VERBALIZERS:
                raise InputError(f"unknown verbalizer '{name}'", field="verbalizers",
                                 fix=f"use some of {','.join(VERBALIZERS)}")
    return [f"{v}/{r}" if r in LM_MODES else r
            for r in rankers for v in (verbalizers if r in LM_MODES else [None])]


def default_baseline(systems: list[str]) -> str:
    """``random`` when it is scored, else the first system."""
    return "random" if "random" in systems else systems[0]


def run_eval(tasks: TaskSet, rankers: list[str], verbalizers: list[str], split: str = "test",
             baseline: str | None = None, seed: int = 0, model: str | None = None, max_length: int = 2048,
             limit: int = 0, progress: bool = True, verbalizer_model: str | None = None,
             cache: str | None = None) -> dict:
    """Metrics of every system on ``split``; Δ% is relative to the system named ``baseline``
    (None: no Δ). Names, the baseline and the model are checked before anything is scored."""
    systems = planned_systems(rankers, verbalizers)
    if baseline and baseline not in systems:
        raise InputError(f"baseline '{baseline}' is not among the systems {systems}", field="baseline",
                         fix=f"name one of them, or leave --baseline out (default: {default_baseline(systems)})")
    train, test = tasks.split("train"), tasks.split(split)
    if limit:
        test = test.head(limit)
    if len(test) == 0:
        raise InputError(f"no '{split}' tasks", field="split", fix="use --split train, valid or test")
    lm_kinds = [r for r in rankers if r in LM_MODES]
    if lm_kinds and not model:
        raise InputError(f"reasoner(s) {lm_kinds} need a language model", field="model",
                         fix="pass --model DIR (e.g. one trained by `verbalrec train warmstart`)")
    results, timing, compression = [], {}, {}
    # the compression ratio's denominator (chars); the contexts themselves come back from evaluate()
    template_chars = np.array([len(t) for t in TemplateVerbalizer(tasks.catalog).verbalize(test.tasks())]) \
        if lm_kinds else np.zeros(0)
    for name in rankers:
        if name in LM_MODES:
            reasoner = make_reasoner(name, model, tasks.catalog, max_length=max_length, progress=progress)
            pairs = [(reasoner, make_cached_verbalizer(v, tasks.catalog, verbalizer_model, cache)) for v in verbalizers]
        else:
            pairs = [(make_ranker(name, seed), None)]
        for reasoner, verbalizer in pairs:
            t0 = time.perf_counter()
            reasoner.fit(train)
            t1 = time.perf_counter()
            res = evaluate(test, reasoner, verbalizer, progress=progress)
            t2 = time.perf_counter()
            results.append(res)
            timing[res.system] = {"fit_s": round(t1 - t0, 2), "score_s": round(t2 - t1, 2),
                                  "tasks_per_s": round(len(test) / max(t2 - t1, 1e-9), 1)}
            if res.context_chars is not None and verbalizer.name not in compression:
                compression[verbalizer.name] = float(np.mean(char_ratios(res.context_chars, template_chars)))
    base = next((r for r in results if r.system == baseline), None) if baseline else None
    meta = {"split": split, "seed": seed, "n_tasks": len(test), "tasks_meta": tasks.meta, "timing": timing,
            "compression_ratio_chars": compression, "model": model}
    doc = results_json(results, base, meta)
    for row in doc["results"]:
        verb = row["system"].split("/")[0] if "/" in row["system"] else None
        row["compression_ratio"] = compression.get(verb)
    return doc
