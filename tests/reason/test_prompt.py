"""A history that does not fit the Reasoner's budget loses its oldest whole lines; the prompt always fits."""

import pandas as pd
import pytest

from verbalrec.logs.catalog import Catalog
from verbalrec.models import train_tokenizer
from verbalrec.reason.prompt import INSTRUCTION, build_prompt, fit_prompt

CAT = Catalog(pd.DataFrame({"item_id": [f"i{k}" for k in range(10)], "title": [f"Film number {k}" for k in range(10)]}))
LINES = [f"line {k:03d}: watched Film number {k % 10} on a Monday evening" for k in range(100)]


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(LINES + [INSTRUCTION, build_prompt("x", ["i1", "i2"], CAT)], 400)


def n_tokens(tok, text):
    return len(tok(text)["input_ids"])


@pytest.mark.parametrize("with_candidates", [True, False])
@pytest.mark.parametrize("budget", [200, 400, 900])
def test_the_newest_whole_lines_are_kept_and_the_prompt_fits(tok, budget, with_candidates):
    prompt = fit_prompt(tok, "\n".join(LINES), ["i1", "i2", "i3"], CAT, budget, with_candidates=with_candidates)
    assert n_tokens(tok, prompt) <= budget - 32  # the answer's reserve stays free
    history = prompt.split("History:\n<<<\n", 1)[1].split("\n>>>", 1)[0].split("\n")
    assert history == LINES[len(LINES) - len(history):]  # a suffix of whole lines, oldest dropped
    assert len(history) < len(LINES)
    bigger = fit_prompt(tok, "\n".join(LINES), ["i1", "i2", "i3"], CAT, budget + 200, with_candidates=with_candidates)
    assert bigger.count("line ") > prompt.count("line ")


def test_a_history_that_fits_is_kept_whole(tok):
    context = "\n".join(LINES[:3])
    assert fit_prompt(tok, context, ["i1"], CAT, 2048) == build_prompt(context, ["i1"], CAT)


def test_one_line_longer_than_the_room_keeps_its_end(tok):
    long_line = " ".join(f"word{k}" for k in range(2000))
    prompt = fit_prompt(tok, long_line, ["i1"], CAT, 300, with_candidates=False)
    assert n_tokens(tok, prompt) <= 300 and "word1999" in prompt and "word0 " not in prompt


def test_a_candidate_list_that_alone_overflows_is_shortened_to_fit(tok):
    huge = Catalog(pd.DataFrame({"item_id": ["a", "b"], "title": ["Film " * 5000, "Other " * 5000]}))
    prompt = fit_prompt(tok, "\n".join(LINES), ["a", "b"], huge, 512)
    assert n_tokens(tok, prompt) <= 512 and "A. Film" in prompt and "B. Other" in prompt
