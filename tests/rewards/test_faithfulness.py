"""The faithfulness term and gate of Stage 1's rewrite kind, on hand-made texts."""

import pytest

from verbalrec.rewards import FaithfulnessReward, Gated, title_coverage

TITLES = ["Dark Sands", "Hollow Crown", "Paper Tide"]


@pytest.mark.parametrize("text, expected", [
    ("Watched Dark Sands twice, then HOLLOW CROWN.", 2 / 3),
    ("dark sands, hollow crown and paper tide", 1.0),
    ("The user likes thrillers and watches at night.", 0.0),  # fluent, but names nothing from the history
    ("", 0.0),
])
def test_title_coverage_counts_the_history_titles_a_text_names(text, expected):
    assert title_coverage(text, TITLES) == pytest.approx(expected)


def test_a_history_without_titles_is_fully_covered():
    assert title_coverage("anything", []) == 1.0


def test_the_gate_zeroes_every_term_of_a_text_that_names_nothing():
    def accuracy(prompts, completions, **_):
        return [1.0] * len(completions)

    accuracy.__name__ = "accuracy"
    faith = FaithfulnessReward()
    gated = Gated(accuracy, faith)
    texts = ["Dark Sands, then Paper Tide", "A fan of slow thrillers.", "hollow crown"]
    cols = {"history_titles": [TITLES] * 3}
    assert faith(None, texts, **cols) == pytest.approx([2 / 3, 0.0, 1 / 3])
    assert gated(None, texts, **cols) == [1.0, 0.0, 1.0]
    assert gated.__name__ == "accuracy"  # TRL logs the gated term under the plain name


@pytest.mark.parametrize("kind, gate, gated", [("rewrite", True, True), ("rewrite", False, False),
                                               ("action", True, False)])
def test_stage1_gates_the_rewrite_kind_only(kind, gate, gated):
    from verbalrec.train.grpo_config import Stage1Config
    from verbalrec.train.stage1 import stage1_rewards
    cfg = Stage1Config(tasks="t", out="o", policy="p", oracle="m", kind=kind, faithfulness_gate=gate)
    funcs, weights = stage1_rewards(cfg, oracle=object(), postprocess=None)
    assert [f.__name__ for f in funcs] == ["accuracy", "length", "compression_ratio", "faithfulness"]
    assert weights == pytest.approx([0.9, 0.1, 0.0, 0.0])
    assert isinstance(funcs[0], Gated) is gated and isinstance(funcs[1], Gated) is gated


def test_bad_decisions_are_a_clear_error():
    from verbalrec.errors import InputError
    from verbalrec.train.grpo_config import Stage1Config
    with pytest.raises(InputError, match="decisions"):
        Stage1Config(tasks="t", out="o", policy="p", oracle="m", kind="action", decisions=("keep", "skip"))
    assert Stage1Config(tasks="t", out="o", policy="p", oracle="m", decisions="keep,drop").decisions == ("keep", "drop")
    assert Stage1Config(tasks="t", out="o", policy="p", oracle="m", decisions="keep,drop,short").decisions == \
        ("keep", "drop", "short")
