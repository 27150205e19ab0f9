"""Action-based verbalization without a model: executor, rule actions, parsing and its defaults."""

import random

import pandas as pd
import pytest

from helpers import make_taskset
from verbalrec.verbalize.action import (DEFAULT_ACTION, SHORT, action_prompt, compact_time, execute_actions,
                                        format_actions, heuristic_actions, parse_actions)
from verbalrec.logs.catalog import Catalog
from verbalrec.verbalize.template import TemplateVerbalizer

T = 1_749_484_800  # Monday 9 June 2025, 16:00 UTC
CAT = Catalog(pd.DataFrame({
    "item_id": ["123456", "f2", "e1"], "title": ["Stranger Things", "Trailer Film", "Plain"],
    "year": [2016, 2021, None], "genres": [["Sci-Fi", "Horror"], ["Comedy"], []],
    "tags": [["nostalgic", "supernatural"], [], []]}))
ROW = {"user_id": 1, "target_item": "x", "candidates": ["x", "y"], "target_time": T + 10_000,
       "hist_item": ["f2", "123456", "123456", "e1", "e1"],
       "hist_time": [T, T + 60, T + 120, T + 3600, T + 7200],
       "hist_engagement": ["trailer", "play", "thumb_up", "play", "play"],
       "hist_duration": [1.5, 80.08, None, 0.5, 45.0]}
TASK = make_taskset([ROW]).tasks()[0]
LINES = [
    "20250609, Monday, 4 PM, ID: f2, Trailer Film, Trailer, Duration: 1.50 min",
    "20250609, Monday, 4 PM, ID: 123456, Stranger Things, Play, Duration: 80.08 min",
    "20250609, Monday, 4 PM, ID: 123456, Stranger Things, Thumb Up",
    "20250609, Monday, 5 PM, ID: e1, Plain, Play, Duration: 0.50 min",
    "20250609, Monday, 6 PM, ID: e1, Plain, Play, Duration: 45.00 min"]
RICH = ("20250609, Monday, 4 PM, ID: 123456, Stranger Things, year: 2016, genres: Sci-Fi, Horror, "
        "plot: nostalgic, supernatural, Play, Duration: 80.08 min")
IDS, TIMES = TASK.hist_item, TASK.hist_time


def parse(text):
    return parse_actions(text, 5, IDS, TIMES)


def test_executor_keeps_drops_and_enriches_exactly():
    assert execute_actions(TASK, [DEFAULT_ACTION] * 5, CAT) == "\n".join(LINES) == \
        TemplateVerbalizer(CAT).verbalize([TASK])[0]
    assert execute_actions(TASK, [(0, 0), (1, 1), (1, 0), (0, 1), (1, 0)], CAT) == \
        "\n".join([RICH, LINES[2], LINES[4]])
    # enriching an item without metadata leaves its template line; dropping everything leaves nothing
    assert execute_actions(TASK, [(0, 0)] * 4 + [(1, 1)], CAT) == LINES[4]
    assert execute_actions(TASK, [(0, 1)] * 5, CAT) == ""
    # short: the title alone, whatever the line carried (engagement, duration, metadata)
    assert execute_actions(TASK, [(1, SHORT), (0, 0), (0, 0), (0, 0), (1, 0)], CAT) == \
        "\n".join([CAT.title(IDS[0]), LINES[4]])
    with pytest.raises(ValueError):
        execute_actions(TASK, [(1, 0)] * 4, CAT)


def test_heuristic_actions_drop_noise_and_enrich_first_kept_play():
    assert heuristic_actions(TASK, CAT) == [(0, 0), (1, 1), (1, 0), (0, 0), (1, 0)]
    assert execute_actions(TASK, heuristic_actions(TASK, CAT), CAT) == "\n".join([RICH, LINES[2], LINES[4]])


def test_format_is_canonical_and_round_trips():
    actions = heuristic_actions(TASK, CAT)
    text = format_actions(TASK, actions)
    assert text.splitlines()[:2] == ["20250609 4 PM, f2, 0, 0", "20250609 4 PM, 123456, 1, 1"]
    assert compact_time(T + 7200) == "20250609 6 PM"
    got = parse(text)
    assert got == actions and (got.n_parsed, got.n_defaulted, got.n_ignored) == (5, 0, 0)
    # repeated items in one hour are matched in order; every action pattern survives
    rng = random.Random(0)
    for _ in range(50):
        acts = [(rng.randint(0, 1), rng.randint(0, 1)) for _ in range(5)]
        assert parse(format_actions(TASK, acts)) == acts


def test_round_trip_on_generated_tasks(tiny_log):
    from verbalrec.tasks import build_tasks, preset
    tasks = build_tasks(tiny_log, preset("paper", n_candidates=3), progress=False).tasks()
    rng = random.Random(1)
    for t in tasks:
        acts = [(rng.randint(0, 1), rng.randint(0, 1)) for _ in t.hist_item]
        assert parse_actions(format_actions(t, acts), len(acts), t.hist_item, t.hist_time) == acts


def test_accepts_index_and_key_value_forms_any_case_and_spacing():
    assert parse("3: 0 1\n1. 0 0") == [(0, 0), (1, 0), (0, 1), (1, 0), (1, 0)]
    assert parse("  ID: E1 ,  KEEP = 0 , Enrich=1  ")[3] == (0, 1)   # id case-insensitive, first e1
    assert parse("- id: 123456, keep=0") == [(1, 0), (0, 0), (1, 0), (1, 0), (1, 0)]  # enrich missing -> 0
    assert parse("`5) 0 1`")[4] == (0, 1)
    echoed = "20250609, Monday, 6 PM, ID: e1, Plain, Play, Duration: 45.00 min, 0, 1"
    assert parse(echoed) == [(1, 0)] * 4 + [(0, 1)]  # the time picks the second e1
    assert parse("3: Stranger Things 0 1\n4. ID: zzz, keep=0")[2:4] == [(0, 1), (0, 0)]  # index rescues
    assert parse("0, 0\n1, 1") == [(0, 0), (1, 1), (1, 0), (1, 0), (1, 0)]  # bare pairs: by order


@pytest.mark.parametrize("text, n_ignored", [
    ("", 0), ("   \n\n", 0), ("I think the user likes horror.", 1), ("garbage\n!!\n42", 3),
    ("20250609 4 PM, f2, 2, 7", 1),                     # values out of {0, 1}
    ("20250609 4 PM, zzz, 0, 0\nID: nope, keep=0", 2),  # ids not in the history
    ("0: 0 0\n6: 0 0\n99: 0 1", 3),                     # indices out of range
])
def test_unusable_output_leaves_every_interaction_at_the_default(text, n_ignored):
    got = parse(text)
    assert got == [DEFAULT_ACTION] * 5 and (got.n_parsed, got.n_defaulted, got.n_ignored) == (0, 5, n_ignored)


def test_partial_wrong_count_and_duplicates():
    partial = parse("1: 0 0\n2: 1 1")
    assert partial == [(0, 0), (1, 1), (1, 0), (1, 0), (1, 0)] and (partial.n_parsed, partial.n_defaulted) == (2, 3)
    extra = parse("\n".join(f"{i}: 0 1" for i in range(1, 9)))  # 8 lines for 5 events
    assert extra == [(0, 1)] * 5 and extra.n_ignored == 3
    too_many_bare = parse("0, 0\n" * 7)
    assert too_many_bare == [(0, 0)] * 5 and too_many_bare.n_ignored == 2
    dup = parse("2: 0 0\n2: 1 1\n1: 0 1\n1: 0 1")  # 2 contradicts itself: default; 1 agrees: kept
    assert dup == [(0, 1), (1, 0), (1, 0), (1, 0), (1, 0)] and (dup.n_parsed, dup.n_ignored) == (1, 1)
    dup_ids = parse("20250609 5 PM, e1, 0, 0\n20250609 5 PM, e1, 0, 0\n20250609 5 PM, e1, 0, 0")
    assert dup_ids[3:] == [(0, 0), (0, 0)] and dup_ids.n_ignored == 1  # 2 occurrences of e1, 3 lines
    assert parse_actions("1: 0 0", 0) == [] and parse_actions("ID: a, keep=0", 2) == [(0, 0), (1, 0)]  # no ids: order


def test_action_prompt_numbers_the_fenced_template_history():
    p = action_prompt(TASK, CAT)
    body = p.split("History:\n<<<\n", 1)[1].rsplit("\n>>>\n", 1)[0]
    assert body.splitlines() == [f"{i}. {line}" for i, line in enumerate(LINES, 1)]
    assert p.endswith("Actions:\n") and "time, ID, k, m" in p
