"""LangPTune: embedding reasoner (scopes, masking), the profile reward (hand-computed, length cap),
one contrastive step, one GRPO step of the writer through the CLI, bad input."""

import json
import math

import numpy as np
import pytest

from helpers import make_taskset
from verbalrec.errors import InputError
from verbalrec.reason.embedding import IDEmbeddingReasoner, _CosineRanker, item_text
from verbalrec.rewards.profile import ProfileRankingReward


class FakeRanker(_CosineRanker):
    """Items on fixed 2-D vectors; a context "user vector x,y" is the user vector (x, y)."""

    name = "fake"

    def __init__(self, catalog, vectors, scope="candidates"):
        super().__init__(catalog, scope)
        self.vectors = vectors

    def item_vectors(self):
        return np.array([self.vectors[i] for i in self.item_ids], float)

    def user_vectors(self, tasks, contexts):
        return np.array([[float(v) for v in c.split()[-1].split(",")] if c else [0.0, 0.0] for c in contexts])


def vec(x, y):
    return f"user vector {x:.12f},{y:.12f}"  # long enough not to count as a degenerate profile


U = vec(1, 0)


# angles 0, 10, 20, 30, 40 degrees: cosine with the user (1, 0) decreases a -> e
ITEMS = {k: (math.cos(math.radians(10 * n)), math.sin(math.radians(10 * n))) for n, k in enumerate("abcde")}


def fake_tasks():
    # user u0 has seen a and b; target d. Candidates (d, c, e).
    return make_taskset([{"user_id": "u0", "hist_item": ["a", "b"], "target_item": "d", "candidates": ["d", "c", "e"]}],
                        catalog_ids=list("abcde"))


def test_catalog_scope_masks_seen_items_and_ranks_the_rest():
    ts = fake_tasks()
    r = FakeRanker(ts.catalog, ITEMS)
    values, target, valid = r.rank_catalog(ts.tasks(), [U])
    assert np.isneginf(values[0, [r.index["a"], r.index["b"]]]).all()  # seen: never ranked
    assert valid.all() and r.item_ids[target[0]] == "d"
    m = r.metrics(ts.tasks(), [U], "catalog")
    # unmasked, d would be 4th; with a, b masked it is 2nd (behind c)
    assert m["mrr"][0] == pytest.approx(1 / 2) and m["ndcg"][0] == pytest.approx(1 / math.log2(3))
    assert m["hr@1"][0] == 0.0
    # candidates scope: (d, c, e) -> d is 2nd as well; a seen item that is the most similar cannot win
    m = r.metrics(ts.tasks(), [U], "candidates")
    assert m["mrr"][0] == pytest.approx(1 / 2)


def test_seen_item_never_ranks_even_when_it_is_the_best_match():
    ts = make_taskset([{"user_id": "u", "hist_item": ["a"], "target_item": "a", "candidates": ["a", "b"]}],
                      catalog_ids=list("abcde"))
    r = FakeRanker(ts.catalog, ITEMS)
    m = r.metrics(ts.tasks(), [U], "catalog")  # target a is seen: masked, scores 0
    assert m["mrr"][0] == 0.0 and m["ndcg"][0] == 0.0


def test_profile_reward_hand_computed_and_length_cap():
    ts = fake_tasks()
    (task,) = ts.tasks()
    reward = ProfileRankingReward(FakeRanker(ts.catalog, ITEMS), [task], "ndcg", "catalog", cap=4, eos_ids=[2])
    # profile pointing at d (angle 30): d ranks 1st among unseen -> 1.0; (1, 0): 2nd -> 1/log2(3)
    d = vec(*ITEMS["d"])
    out = reward([""] * 3, [d, U, U], task_id=[task.task_id] * 3,
                 completion_ids=[[5, 6, 2], [5, 6, 7], [5, 6, 7, 8]])
    assert out[0] == pytest.approx(1.0) and out[1] == pytest.approx(1 / math.log2(3))
    assert out[2] == 0.0  # 4 tokens = the cap, no EOS: length cap -> 0
    assert reward([""], [U], task_id=[task.task_id], completion_ids=[[5, 6, 7, 2]])[0] > 0  # ended at the cap
    mrr = ProfileRankingReward(FakeRanker(ts.catalog, ITEMS), [task], "mrr", "candidates")
    assert mrr([""], [U], task_id=[task.task_id])[0] == pytest.approx(0.5)


def test_id_embedding_baseline_fits_and_scores(lpt_env):
    ts = lpt_env["taskset"]
    r = IDEmbeddingReasoner(ts.catalog, dim=4).fit(ts.split("train"))
    test = ts.split("test").tasks()
    s = r.score(test, [""] * len(test))
    assert s.values.shape == (len(test), 3) and np.isfinite(s.values).all()
    values, _, _ = r.rank_catalog(test, [""] * len(test))
    assert all(np.isneginf(values[i, [r.index[h] for h in t.hist_item]]).all() for i, t in enumerate(test))


def test_embedding_reasoner_on_a_tiny_model_cuts_oldest_lines(lpt_env):
    from verbalrec.reason.embedding import EmbeddingReasoner, load_embedding_model
    ts = lpt_env["taskset"]
    r = EmbeddingReasoner(load_embedding_model(lpt_env["st"]), ts.catalog)
    test = ts.split("test").tasks()
    s = r.score(test, ["Title 3 (2003). Genres: Drama"] * len(test))
    assert s.values.shape == (len(test), 3) and np.isfinite(s.values).all()
    long = "\n".join(f"line {i} " + "word " * 20 for i in range(40))
    kept = r.fit_text(long)
    assert kept.endswith(long.splitlines()[-1]) and "line 0 " not in kept
    assert item_text(r.catalog, "i3") == "Title 3 (2003). Genres: Drama"


def test_contrastive_step_changes_embedding_weights(lpt_env):
    import torch

    from verbalrec.reason.embedding import load_embedding_model
    from verbalrec.train.langptune import ContrastiveUpdater
    model = load_embedding_model(lpt_env["st"])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss = ContrastiveUpdater(model, lr=1e-2, batch_size=4).step(
        ["likes comedies", "likes dramas", "old films", "new films"],
        ["Title 0 (2000). Genres: Comedy", "Title 1 (2001). Genres: Drama", "Title 2 (2002)", "Title 11 (2011)"])
    assert np.isfinite(loss) and not model.training
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_real_minilm_loads_offline_and_ranks_by_meaning():
    from verbalrec.reason.embedding import load_embedding_model
    model = load_embedding_model("all-MiniLM-L6-v2")
    e = model.encode(["loves space adventures and science fiction", "Star Wars (1977). Genres: Sci-Fi",
                      "Sleepless in Seattle (1993). Genres: Romance"], normalize_embeddings=True)
    assert e.shape == (3, 384) and e[0] @ e[1] > e[0] @ e[2]


def test_bad_input_names_field_and_fix(lpt_env, tmp_path):
    from verbalrec.reason.embedding import load_embedding_model
    from verbalrec.train.langptune_config import LangPTuneConfig
    from verbalrec.train.langptune_eval import evaluate_langptune
    with pytest.raises(InputError) as err:
        load_embedding_model(str(tmp_path / "no-such-model"))
    assert err.value.field == "embedding_model" and err.value.fix
    with pytest.raises(InputError) as err:
        LangPTuneConfig(tasks=lpt_env["tasks"], out=str(tmp_path / "o"))
    assert err.value.field == "writer"
    with pytest.raises(InputError) as err:
        LangPTuneConfig(tasks=lpt_env["tasks"], out=str(tmp_path / "o"), writer="w", reward_scope="all")
    assert err.value.field == "reward_scope"
    empty = make_taskset([{"user_id": "u", "hist_item": ["i1"], "target_item": "i2", "candidates": ["i2", "i3"]}])
    from verbalrec.tasks import save_tasks
    save_tasks(empty, tmp_path / "train-only")
    cfg = LangPTuneConfig(tasks=str(tmp_path / "train-only"), out=str(tmp_path / "o"), writer=lpt_env["model"],
                          embedding_model=lpt_env["st"])
    with pytest.raises(InputError) as err:
        evaluate_langptune(cfg, None)
    assert err.value.field == "eval_split" and "split" in err.value.fix


@pytest.fixture(scope="module")
def cli_run(lpt_env):
    from verbalrec.cli import main
    out = lpt_env["root"] / "cli"
    rc = main(["langptune", "--tasks", lpt_env["tasks"], "--writer", lpt_env["model"], "--out", str(out),
               "--embedding-model", lpt_env["st"], "--max-steps", "2", "--logging-steps", "1", "--save-steps", "1",
               "--max-prompt-length", "160", "--max-completion-length", "12", "--num-generations", "2",
               "--prompts-per-step", "2", "--learning-rate", "1e-2", "--contrastive-every", "1",
               "--contrastive-batch", "2", "--eval-limit", "0", "--cpu-threads", "1"])
    assert rc == 0
    return out


def test_one_grpo_step_of_the_writer_logs_the_profile_reward(cli_run):
    run = json.loads((cli_run / "verbalrec_run.json").read_text())
    assert run["stage"] == "langptune-writer" and run["global_step"] == 2
    keys = {k for h in run["log_history"] for k in h}
    assert {"rewards/profile_ndcg/mean", "profile/capped_rate"} <= keys
    assert (cli_run / "embedding").is_dir() and (cli_run / "model.safetensors").exists()


def test_cli_writes_the_report_document(cli_run, lpt_env):
    doc = json.loads((cli_run / "langptune.json").read_text())
    systems = [r["system"] for r in doc["rows"]]
    assert systems == ["template", "template+meta", "heuristic", "zero-shot-profile", "langptune-profile", "id-embedding"]
    n = len(lpt_env["taskset"].split("test"))
    for r in doc["rows"]:
        assert {"label", "recall@1_discovery", "recall@1_discovery_ci95", "ndcg@10", "mrr", "n", "n_discovery",
                "valid_ratio", "profile_chars", "catalog_ndcg"} <= set(r) and r["n"] == n
        assert ("delta_pct" in r) == (r["system"] != "template")
    assert set(doc["trained_vs_zero_shot"]) == {"recall@1_discovery", "mrr", "ndcg@10"}
    assert doc["examples"] and {"user_id", "before", "after"} <= set(doc["examples"][0])
    assert [c["step"] for c in doc["curves"]] == [1, 2]
    assert doc["meta"]["embedding_trained"]
