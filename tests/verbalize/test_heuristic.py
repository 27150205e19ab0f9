"""Heuristic verbalization, compression ratio and the verbalization cache."""

import pandas as pd

from helpers import make_taskset
from verbalrec.compression import compression_ratio
from verbalrec.verbalize.cache import CachedVerbalizer, VerbalizationCache
from verbalrec.verbalize.heuristic import HeuristicVerbalizer
from verbalrec.verbalize.template import TemplateVerbalizer

T = 1_749_484_800  # Monday 9 June 2025, 16:00 UTC
CAT = pd.DataFrame({
    "item_id": ["f1", "e1", "e2", "e3", "f2"],
    "title": ["Dark Film", "Show: S1E1", "Show: S1E2", "Show: S1E3", "Trailer Film"],
    "year": [2016, 2020, 2020, 2020, 2021],
    "genres": [["Thriller"], ["Drama"], ["Drama"], ["Drama"], ["Comedy"]],
    "series": [None, "Show", "Show", "Show", None]})
ROW = {"user_id": 1, "target_item": "x", "candidates": ["x", "y"], "target_time": T + 10_000,
       "hist_item": ["f2", "f1", "f1", "e1", "e2", "e3", "f2"],
       "hist_time": [T, T + 60, T + 120, T + 3600, T + 7200, T + 9000, T + 9500],
       "hist_engagement": ["trailer", "play", "thumb_up", "play", "play", "play", "play"],
       "hist_duration": [1.5, 95.0, None, 50.0, 48.0, 51.0, 0.5]}
TASKS = make_taskset([ROW], catalog_ids=list(CAT.item_id) + ["x", "y"])


def test_heuristic_filters_noise_aggregates_and_summarises():
    text = HeuristicVerbalizer(CAT).verbalize(TASKS.tasks())[0]
    assert "Trailer Film" not in text                      # trailer and a 0.5-min play are noise
    assert "ID:" not in text and "f1" not in text          # internal ids dropped
    assert "watched 3 episodes of Show" in text            # episodes aggregated
    assert "Dark Film (2016; Thriller) (95 min, liked it)" in text  # thumb merged into the play
    assert text.splitlines()[0] == "Interests: mostly Thriller and Drama."
    assert "Monday afternoon, 9 Jun 2025" in text


def test_compression_ratio_in_chars_and_tokens():
    class WordTokenizer:
        def __call__(self, texts, add_special_tokens=False):
            return {"input_ids": [t.split() for t in texts]}
    r = compression_ratio(["a b", "a"], ["a b c d", "a b"], tokenizer=WordTokenizer())
    assert list(r["chars"]) == [3 / 7, 1 / 3] and list(r["tokens"]) == [0.5, 0.5]


def test_cache_generates_each_history_once(tmp_path):
    inner = TemplateVerbalizer(CAT)
    calls = []
    class Counting:
        name, version = inner.name, inner.version
        def verbalize(self, tasks):
            calls.append(len(tasks))
            return inner.verbalize(tasks)
    cache = VerbalizationCache(tmp_path / "v.sqlite")
    v = CachedVerbalizer(Counting(), cache)
    first = v.verbalize(TASKS.tasks())
    again = CachedVerbalizer(Counting(), VerbalizationCache(tmp_path / "v.sqlite")).verbalize(TASKS.tasks())
    assert first == again == inner.verbalize(TASKS.tasks()) and calls == [1]
