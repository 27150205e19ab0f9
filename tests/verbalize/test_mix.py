"""The verbalization mix: every style is a faithful wording of the same history, seeded."""

import random

import pytest

from helpers import tiny_catalog
from verbalrec.errors import InputError
from verbalrec.logs.catalog import Catalog
from verbalrec.tasks.schema import Task
from verbalrec.verbalize import make_verbalizer
from verbalrec.verbalize.mix import MIX_STYLES, VerbalizationMix, line_subset

CAT = Catalog(tiny_catalog())
TASK = Task(task_id="t", user_id="u", split="train", target_time=2_000_000_000, target_item="i9", discovery=True,
            label=0, candidates=["i9", "i10"], hist_item=["i1", "i2", "i3", "i4"],
            hist_time=[1_700_000_000 + 3600 * k for k in range(4)],
            hist_engagement=["play", "thumb_up", "play", "thumb_down"], hist_duration=[30.0, None, 12.5, None],
            hist_device=[None] * 4, hist_rating=[None] * 4)


@pytest.mark.parametrize("style", sorted(MIX_STYLES))
def test_every_style_names_every_title_in_order_and_never_the_target(style):
    text = VerbalizationMix(CAT, {style: 1.0}, subset_p=0.0).verbalize_one(TASK, random.Random(0))[1]
    positions = [text.index(CAT.title(i)) for i in TASK.hist_item]
    assert positions == sorted(positions)
    assert CAT.title("i9") not in text


def test_titles_and_sentences_are_registered_verbalizers():
    assert make_verbalizer("titles", CAT).verbalize([TASK])[0].splitlines() == [CAT.title(i) for i in TASK.hist_item]
    sentences = make_verbalizer("sentences", CAT).verbalize([TASK])[0].splitlines()
    assert sentences[1].startswith("Liked Title 2 (2002)") and sentences[3].startswith("Disliked Title 4")


def test_the_mix_is_deterministic_by_seed_and_uses_several_styles():
    mix = VerbalizationMix(CAT)
    draw = lambda seed: [mix.verbalize_one(TASK, r) for r in [random.Random(seed)] for _ in range(30)]  # noqa: E731
    assert draw(3) == draw(3) and draw(3) != draw(4)
    assert len({style for style, _ in draw(3)}) >= 4


def test_line_subset_keeps_order_and_at_least_half():
    for seed in range(20):
        sub = line_subset(TASK, random.Random(seed))
        assert 2 <= len(sub.hist_item) <= 4
        idx = [TASK.hist_item.index(i) for i in sub.hist_item]
        assert idx == sorted(idx)
        assert [TASK.hist_time[k] for k in idx] == sub.hist_time


def test_a_bad_mix_is_a_one_line_error():
    with pytest.raises(InputError, match="titles"):
        VerbalizationMix(CAT, {"bogus": 1.0})
    with pytest.raises(InputError):
        VerbalizationMix(CAT, {"titles": 0.0})
