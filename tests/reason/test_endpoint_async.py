"""The async endpoint oracle against a scripted loopback server: the same scores and cache as the
synchronous one, bounded concurrency, errors that name the fix, and TRL awaiting it."""

import asyncio
import threading

import numpy as np
import pytest
from serve_helpers import FakeServer, completion_logprobs
from test_endpoint import config, tiny_tasks

from verbalrec.reason.endpoint import EndpointError, EndpointReasoner
from verbalrec.reason.endpoint_async import AsyncEndpointReasoner, AsyncOracleReward
from verbalrec.rewards import AccuracyReward


def ranked(n, body):
    """Log-probs that rank the candidates by the prompt's length mod 3: different per task."""
    best = "ABC"[len(body["prompt"]) % 3]
    return 200, {}, completion_logprobs({best: -0.1, **{k: -3.0 for k in "ABC" if k != best}})


def test_async_scores_and_cache_match_the_synchronous_oracle(tmp_path):
    tasks, texts, catalog = tiny_tasks()
    with FakeServer(ranked) as srv:
        sync = EndpointReasoner(config(tmp_path / "s", srv.base_url), catalog).score(tasks, texts)
        asy = AsyncEndpointReasoner(config(tmp_path / "a", srv.base_url), catalog)
        got = asy.score(tasks, texts)
        sent = len(srv.requests)
        again = asy.score(tasks, texts)
        assert len(srv.requests) == sent  # the second call is answered by the cache
    assert np.array_equal(got.values, sync.values) and np.array_equal(got.valid, sync.valid)
    assert np.array_equal(again.values, got.values) and asy.stats["cache_hits"] == len(tasks)
    # a response cached by the async path is read by the sync one (the server is gone by now)
    cached = EndpointReasoner(config(tmp_path / "a", srv.base_url, max_retries=0), catalog).score(tasks, texts)
    assert np.array_equal(cached.values, got.values)


def test_at_most_concurrency_requests_are_in_flight(tmp_path):
    tasks, texts, catalog = tiny_tasks()
    contexts = [f"{x}\n#{i}" for i, x in enumerate(texts * 3)]  # distinct prompts: nothing deduplicated
    with FakeServer(ranked, delay=0.05) as srv:
        AsyncEndpointReasoner(config(tmp_path, srv.base_url, concurrency=3), catalog).score(tasks * 3, contexts)
    assert len(srv.requests) == len(contexts) and srv.max_in_flight == 3


@pytest.mark.parametrize("status, text", [(400, "check model"), (503, "failed 1 times")])
def test_refusals_and_exhausted_retries_name_the_fix(tmp_path, status, text):
    tasks, texts, catalog = tiny_tasks()
    with FakeServer(lambda n, body: (status, {}, {"error": "no"})) as srv:
        oracle = AsyncEndpointReasoner(config(tmp_path, srv.base_url, max_retries=0), catalog)
        with pytest.raises(EndpointError, match=text) as err:
            oracle.score(tasks[:1], texts[:1])
    assert err.value.fix


def test_the_async_reward_on_trls_kind_of_loop_equals_the_sync_reward(tmp_path):
    """TRL awaits async reward functions on an event loop in a daemon thread."""
    from trl.trainer.utils import is_async_callable
    tasks, texts, catalog = tiny_tasks()
    kw = {"prompts": ["p"] * len(tasks), "completions": texts, "candidates": [t.candidates for t in tasks],
          "label": [t.label for t in tasks]}
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    with FakeServer(ranked) as srv:
        sync = AccuracyReward(EndpointReasoner(config(tmp_path / "s", srv.base_url), catalog))(**kw)
        oracle = AsyncEndpointReasoner(config(tmp_path / "a", srv.base_url), catalog)
        reward = AsyncOracleReward(AccuracyReward(oracle))
        assert is_async_callable(reward) and reward.__name__ == "accuracy"
        got = asyncio.run_coroutine_threadsafe(reward(**kw), loop).result(timeout=30)
    loop.call_soon_threadsafe(loop.stop)
    assert got == sync and oracle.loop is None  # the loop is forgotten after the call


def test_stage1_uses_the_async_reward_for_an_endpoint_oracle(tmp_path):
    from verbalrec.train.grpo_config import Stage1Config
    from verbalrec.train.stage1 import PolicyPostprocess, make_oracle, stage1_rewards
    _, _, catalog = tiny_tasks()
    base = dict(tasks="t", out=str(tmp_path), policy="p", oracle="http://127.0.0.1:9/v1", oracle_model="m",
                faithfulness_gate=False)  # the gate wraps the reward: here the unwrapped class is checked
    for asynchronous, cls in ((True, AsyncOracleReward), (False, AccuracyReward)):
        cfg = Stage1Config(**base, oracle_async=asynchronous, oracle_concurrency=7)
        oracle = make_oracle(cfg, catalog, tmp_path)
        funcs, weights = stage1_rewards(cfg, oracle, PolicyPostprocess(None, []))
        assert type(funcs[0]) is cls and oracle.config.concurrency == 7 and weights == [0.9, pytest.approx(0.1), 0.0, 0.0]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A tiny task folder and a tiny untrained policy (as tests/train/conftest.py builds them)."""
    from helpers import tiny_catalog, tiny_events
    from verbalrec.logs.schema import EventLog, validate_catalog, validate_events
    from verbalrec.models import build_and_save
    from verbalrec.tasks import build_tasks, load_tasks, preset, save_tasks
    from verbalrec.verbalize import llm
    from verbalrec.verbalize.template import TemplateVerbalizer
    cat = validate_catalog(tiny_catalog())
    root = tmp_path_factory.mktemp("async")
    log = EventLog(validate_events(tiny_events(), catalog=cat), cat, name="tiny")
    save_tasks(build_tasks(log, preset("paper", n_candidates=3, train_tasks_per_user=0), progress=False), root / "tasks")
    texts = TemplateVerbalizer(cat).verbalize(load_tasks(root / "tasks").tasks()) + [llm.REWRITE_INSTRUCTION]
    return {"tasks": str(root / "tasks"), "model": str(build_and_save(texts * 3, root / "tiny", "tiny"))}


def test_one_grpo_step_with_the_endpoint_oracle_awaits_the_async_reward(env, tmp_path):
    """TRL itself awaits the reward: the fake oracle sees one request per sampled verbalization."""
    import json

    from verbalrec.train.grpo_config import Stage1Config
    from verbalrec.train.stage1 import train_verbalizer
    with FakeServer(ranked) as srv:
        cfg = Stage1Config(tasks=env["tasks"], out=str(tmp_path / "s1"), policy=env["model"], oracle=srv.base_url,
                           oracle_model="m", max_prompt_length=160, max_completion_length=8, num_generations=2,
                           prompts_per_step=2, max_steps=1, logging_steps=1, save_steps=5, beta=0.0)
        out = train_verbalizer(cfg)
        assert 1 <= len(srv.requests) <= 4  # 2 prompts x G=2, identical texts sent once
    run = json.loads((out / "verbalrec_run.json").read_text())
    assert "rewards/accuracy/mean" in {k for h in run["log_history"] for k in h}
