"""One registry of Reasoner modes: every mode by its one name; a bad name is a one-line error."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from helpers import tiny_catalog  # noqa: E402
from verbalrec.errors import InputError  # noqa: E402
from verbalrec.reason import EMBEDDING_MODE, ENDPOINT_MODES, LM_MODES, make_reasoner  # noqa: E402
from verbalrec.reason.lm import CandidateLikelihoodReasoner, GenerativeReasoner, LabelScoringReasoner  # noqa: E402


@pytest.fixture(scope="module")
def lm():
    from verbalrec.models import build_model, train_tokenizer
    tok = train_tokenizer(["Title 1 Title 2 Answer: A B C"] * 4, 300)
    return build_model("tiny", tok, seed=0), tok


def test_every_local_mode_by_its_one_name(lm):
    classes = {"likelihood": CandidateLikelihoodReasoner, "label": LabelScoringReasoner,
               "generative": GenerativeReasoner}
    assert set(classes) == set(LM_MODES)
    for mode in LM_MODES:
        assert type(make_reasoner(mode, lm, tiny_catalog(), max_length=256)) is classes[mode]


def test_embedding_mode_is_the_shipped_minilm_reader_and_a_stage1_oracle():
    from verbalrec.reason.embedding import EmbeddingReasoner
    from verbalrec.train.grpo_config import Stage1Config
    r = make_reasoner(EMBEDDING_MODE, "all-MiniLM-L6-v2", tiny_catalog())
    assert isinstance(r, EmbeddingReasoner) and r.model.max_seq_length > 0
    cfg = Stage1Config(tasks="t", policy="p", oracle="all-MiniLM-L6-v2", out="x", oracle_mode=EMBEDDING_MODE)
    assert cfg.oracle_mode == EMBEDDING_MODE
    with pytest.raises(InputError, match="embedding model not found"):
        make_reasoner(EMBEDDING_MODE, "/no/such/dir", tiny_catalog())
    from verbalrec.reason.baselines import TextItemKNNRanker
    assert isinstance(make_reasoner("itemknn-text", "itemknn", tiny_catalog()), TextItemKNNRanker)
    assert Stage1Config(tasks="t", policy="p", oracle="itemknn", out="x", oracle_mode="itemknn-text").oracle_mode


def test_every_endpoint_mode_by_its_one_name(tmp_path):
    from verbalrec.reason.endpoint import EndpointReasoner
    for mode in ENDPOINT_MODES:
        r = make_reasoner(mode, "http://127.0.0.1:9/v1", tiny_catalog(), served_model="m",
                          cache_path=str(tmp_path / f"{mode}.sqlite"))
        assert isinstance(r, EndpointReasoner)


@pytest.mark.parametrize("model", ["LM", "http://127.0.0.1:9/v1"])
def test_a_bad_mode_names_the_choices(lm, model):
    with pytest.raises(InputError) as err:
        make_reasoner("generate-ish", lm if model == "LM" else model, tiny_catalog())
    text = str(err.value)
    assert "\n" not in text and "generate-ish" in text
    assert all(m in text for m in (LM_MODES if model == "LM" else ENDPOINT_MODES))


def test_stage1_oracle_and_reproduce_use_the_same_vocabulary():
    from verbalrec.reproduce.config import load_config
    from verbalrec.train.grpo_config import Stage1Config
    for mode in LM_MODES:
        assert Stage1Config(tasks="t", policy="p", oracle="o", out="x", oracle_mode=mode).oracle_mode == mode
        assert load_config("ml100k-cpu", reasoner_mode=mode).reasoner_mode == mode
    with pytest.raises(InputError, match="oracle_mode"):
        Stage1Config(tasks="t", policy="p", oracle="o", out="x", oracle_mode="generate")
