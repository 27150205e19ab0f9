"""Stage 2 rollouts inside the candidate set: only candidate answers, the right log-probs, the
policy-gradient identity, and a toy task that Stage 2 measurably learns."""

import json
import os

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from verbalrec.train.rollout import CandidateRollout, constrained_token_logprobs  # noqa: E402


class _Trainer:  # what CandidateRollout reads of a GRPOTrainer
    def __init__(self, model):
        self.model = model
        self.accelerator = type("A", (), {"unwrap_model": staticmethod(lambda m: m)})()


@pytest.fixture(scope="module")
def lm():
    from verbalrec.models import train_tokenizer
    tok = train_tokenizer(["Answer: Alpha Beta Gamma Delta history"] * 4, 300,
                          phrases=["Alpha", "Beta", "Gamma Ray", "Delta"])
    return tok


@pytest.mark.parametrize("seed", range(8))
def test_a_constrained_rollout_only_ever_yields_candidate_answers(lm, seed):
    """Property over random models (random logits) and temperatures."""
    from verbalrec.models import build_model
    tok = lm
    model = build_model("tiny", tok, seed=seed)
    rng = np.random.default_rng(seed)
    answers = {f"P{k} history:": [" Alpha\n", " Beta\n", " Gamma Ray\n", " Delta\n", " Alphabet soup\n"][:int(n)]
               for k, n in enumerate(rng.integers(2, 6, size=4))}
    rollout = CandidateRollout(answers, tok, temperature=float(rng.uniform(0.3, 2.0)), seed=seed)
    prompts = [p for p in answers for _ in range(3)]
    out = rollout(prompts, _Trainer(model))
    assert len(out["completion_ids"]) == len(prompts) == len(out["logprobs"]) == len(out["answer_index"])
    for p, ids, j, logps in zip(prompts, out["completion_ids"], out["answer_index"], out["logprobs"]):
        assert tok.decode(ids) == answers[p][j]  # the completion is exactly a candidate answer
        assert len(logps) == len(ids) and sum(logps) <= 1e-6  # a log-probability of the whole answer


def test_logprobs_sum_to_the_constrained_probability(lm):
    from verbalrec.models import build_model
    model = build_model("tiny", lm, seed=0)
    answers = {"P history:": [" Alpha\n", " Beta\n", " Delta\n"]}
    rollout = CandidateRollout(answers, lm, seed=0)
    probs, per_token = rollout.distribution(model, "P history:")
    assert probs.sum() == pytest.approx(1.0)
    for j in range(3):
        assert sum(constrained_token_logprobs(per_token[j], probs[j])) == pytest.approx(np.log(probs[j]), abs=1e-5)
    # sampling follows the constrained distribution
    draws = rollout(["P history:"] * 3000, _Trainer(model))["answer_index"]
    assert np.allclose(np.bincount(draws, minlength=3) / 3000, probs, atol=0.03)


def test_the_unconstrained_gradient_equals_the_constrained_one_when_advantages_are_centred():
    """TRL differentiates log pi(a), not log pi_c(a) = log pi(a) - log Z: the log Z term is common to a
    group and cancels when its advantages sum to 0 (GRPO's group-mean baseline)."""
    torch.manual_seed(0)
    logits = torch.randn(12, requires_grad=True)  # a 12-item vocabulary; candidates are 5 of them
    cands = torch.tensor([1, 3, 4, 7, 10])
    samples = cands[torch.randint(0, 5, (8,))]
    rewards = torch.where(samples == 4, 1.0, -1.0)
    adv = (rewards - rewards.mean()) / (rewards.std() + 1e-4)
    logp = torch.log_softmax(logits, -1)
    g_free = torch.autograd.grad((adv * logp[samples]).sum(), logits, retain_graph=True)[0]
    logp_c = logp - torch.logsumexp(logp[cands], -1)
    g_con = torch.autograd.grad((adv * logp_c[samples]).sum(), logits)[0]
    assert torch.allclose(g_free, g_con, atol=1e-6)


def test_stage2_moves_the_policy_to_a_fixed_candidate(env, tmp_path):
    """Toy task with a known optimum: +1 only for the candidate in position 0. A few dozen constrained
    Stage 2 steps must raise its probability well above where it started."""
    from verbalrec.logs.catalog import Catalog
    from verbalrec.models import load_causal_lm
    from verbalrec.reason.prompt import answer_text, fit_prompt
    from verbalrec.rewards import ReasonerReward
    from verbalrec.train.grpo import run_grpo, training_tasks
    from verbalrec.train.grpo_config import Stage2Config
    from verbalrec.verbalize import make_verbalizer
    from datasets import Dataset

    tasks, train = training_tasks(env["tasks"])
    catalog = Catalog(tasks.catalog)
    model, tok = load_causal_lm(env["model"], padding_side="left")
    contexts = make_verbalizer("titles", catalog).verbalize(train.tasks())
    rows = [{"prompt": fit_prompt(tok, c, t.candidates, catalog, 256, with_candidates=False),
             "candidate_titles": [catalog.title(x) for x in t.candidates], "label": 0, "task_id": t.task_id}
            for t, c in zip(train.tasks()[:4], contexts)]
    answers = {r["prompt"]: [answer_text(x) for x in r["candidate_titles"]] for r in rows}
    rollout = CandidateRollout(answers, tok, seed=0)

    def p_first(m):
        return float(np.mean([rollout.distribution(m, r["prompt"])[0][0] for r in rows]))

    before = p_first(model.eval())
    cfg = Stage2Config(tasks=env["tasks"], out=str(tmp_path / "s2"), policy=env["model"], max_steps=30,
                       num_generations=4, prompts_per_step=4, learning_rate=5e-3, beta=0.0, logging_steps=5,
                       save_steps=100, max_prompt_length=256)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    out = run_grpo(cfg, stage="stage2-reasoner", model=model.train(), tokenizer=tok,
                   reward_funcs=[ReasonerReward()], reward_weights=[1.0], dataset=Dataset.from_list(rows),
                   data_hash="toy", resume=False, rollout_func=rollout)
    after_model, _ = load_causal_lm(out)
    after = p_first(after_model)
    assert after > max(0.6, before + 0.25), (before, after)  # from ~1/3 towards the optimum 1
    history = json.loads((out / "verbalrec_run.json").read_text())["log_history"]
    rewards = [h["reward"] for h in history if "reward" in h]
    assert rewards[-1] > rewards[0]
