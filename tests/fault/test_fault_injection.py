"""Fault injection on loopback: the endpoint Reasoner and the Stage 1 endpoint oracle run through
hangs, 5xx, 429 with Retry-After, malformed and error bodies, bodies cut off and connection resets.
The run completes (or stops with one clear error), no answer is lost or stored wrong, and a rerun
sends only what is missing. Each scenario prints its figures (pytest -s shows them); with
VERBALREC_FAULT_REPORT=path they are also appended there as JSON lines."""

import hashlib
import json
import os
import sqlite3
import time

import numpy as np
import pytest

from fault_server import FAULTS, FaultServer, timed

from verbalrec.errors import InputError
from verbalrec.reason.endpoint import EndpointConfig, EndpointError, EndpointReasoner
from verbalrec.reason.prompt import build_prompt

FAST = {"timeout": 0.5, "backoff_base": 0.01, "backoff_max": 0.05, "concurrency": 4}


@pytest.fixture(params=["threads", "async"])
def Client(request):
    """Both clients: threads (EndpointReasoner) and the event loop (AsyncEndpointReasoner)."""
    if request.param == "async":
        from verbalrec.reason.endpoint_async import AsyncEndpointReasoner
        return AsyncEndpointReasoner
    return EndpointReasoner


def _digest(prompt: str) -> int:
    return int(hashlib.sha256(prompt.encode()).hexdigest(), 16)


def label_of(prompt: str) -> int:
    return _digest(prompt) % 3


def answer(prompt: str) -> str:
    return " " + "ABC"[label_of(prompt)]


@pytest.fixture(scope="module")
def work():
    """24 tasks with 3 candidates, their template contexts and prompts."""
    from helpers import tiny_catalog, tiny_events
    from verbalrec.logs.catalog import Catalog
    from verbalrec.logs.schema import EventLog, validate_catalog, validate_events
    from verbalrec.tasks import build_tasks, preset
    from verbalrec.verbalize.template import TemplateVerbalizer
    cat = validate_catalog(tiny_catalog())
    log = EventLog(validate_events(tiny_events(), catalog=cat), cat, name="tiny")
    tasks = build_tasks(log, preset("paper", n_candidates=3, train_tasks_per_user=0), progress=False).tasks()[:24]
    catalog = Catalog(tiny_catalog())
    contexts = TemplateVerbalizer(catalog).verbalize(tasks)
    prompts = [build_prompt(c, t.candidates, catalog) for t, c in zip(tasks, contexts)]
    assert len(set(prompts)) == len(prompts) == 24
    return tasks, contexts, prompts, catalog


def report(name: str, r: EndpointReasoner, server: FaultServer, wall: float, **extra) -> dict:
    figures = {"scenario": name, "requests": r.stats["requests"], "retries": r.stats["retries"],
               "answers_kept": r.stats["stored"], "cache_hits": r.stats["cache_hits"],
               "server_saw": len(server.log), "faults": dict(server.faults()), "wall_s": round(wall, 2), **extra}
    print("fault-injection:", json.dumps(figures))
    if os.environ.get("VERBALREC_FAULT_REPORT"):
        with open(os.environ["VERBALREC_FAULT_REPORT"], "a") as f:
            f.write(json.dumps(figures) + "\n")
    return figures


def stored_answers(path) -> list[dict]:
    with sqlite3.connect(path) as db:
        return [json.loads(r[0]) for r in db.execute("SELECT response FROM responses")]


def test_every_fault_once_per_prompt_the_run_completes_and_stores_only_right_answers(Client, work, tmp_path):
    tasks, contexts, prompts, catalog = work
    index = {p: i for i, p in enumerate(prompts)}
    # prompt i meets fault i % 9 on its first try, and every third prompt a second one
    plan = lambda p, attempt: (FAULTS[index[p] % 9] if attempt == 0 else  # noqa: E731
                               FAULTS[(index[p] + 4) % 9] if attempt == 1 and index[p] % 3 == 0 else None)
    cfg = EndpointConfig(model="m", mode="generative", cache_path=str(tmp_path / "c.sqlite"), max_retries=3, **FAST)
    with FaultServer(plan, answer, hang_s=1.5) as server:
        cfg.base_url = server.base_url
        r = Client(cfg, catalog)
        scores, wall = timed(lambda: r.score(tasks, contexts))
        figures = report(f"every fault, the run completes [{Client.__name__}]", r, server, wall)
        injected = sum(server.faults().values())
        assert scores.valid.all() and scores.predict().tolist() == [label_of(p) for p in prompts]
        assert set(server.faults()) == set(FAULTS) and injected == 24 + 8
        assert r.stats["requests"] == len(server.log) == 24 + injected and r.stats["retries"] == injected
        assert figures["answers_kept"] == 24
        # the cache holds 24 answers, each the right one: nothing stored from a faulty response
        assert sorted(a["choices"][0]["text"] for a in stored_answers(cfg.cache_path)) == sorted(map(answer, prompts))
        rerun = Client(cfg, catalog)
        again = rerun.score(tasks, contexts)
        assert rerun.stats["requests"] == 0 and rerun.stats["cache_hits"] == 24 and len(server.log) == 24 + injected
    np.testing.assert_array_equal(again.values, scores.values)


def test_a_persistent_fault_stops_clearly_and_the_rerun_sends_only_what_is_missing(Client, work, tmp_path):
    tasks, contexts, prompts, catalog = work
    index, healed = {p: i for i, p in enumerate(prompts)}, {"yes": False}
    # prompt 13 always answers an error body until the server is healed; the others meet one fault each
    plan = lambda p, attempt: (None if healed["yes"] else "error" if index[p] == 13 else  # noqa: E731
                               FAULTS[index[p] % 9] if attempt == 0 else None)
    cfg = EndpointConfig(model="m", mode="generative", cache_path=str(tmp_path / "c.sqlite"), max_retries=2, **FAST)
    with FaultServer(plan, answer, hang_s=1.5) as server:
        cfg.base_url = server.base_url
        r = Client(cfg, catalog)
        t0 = time.perf_counter()
        with pytest.raises(EndpointError) as err:
            r.score(tasks, contexts)
        first_wall = time.perf_counter() - t0
        text = str(err.value)
        assert isinstance(err.value, InputError) and len(text.splitlines()) == 1
        assert f"{server.base_url}/completions failed 3 times (last: error body: injected failure)" in text
        kept = r.stats["stored"]
        assert 0 < kept < 24 and len(stored_answers(cfg.cache_path)) == kept
        assert all(a["choices"][0]["text"] == answer(p) for p, a in zip(*_stored_by_prompt(r, prompts)))
        first = len(server.log)
        healed["yes"] = True
        rerun = Client(cfg, catalog)
        scores, wall = timed(lambda: rerun.score(tasks, contexts))
        resent = [p for p, _, _ in server.log[first:]]
        report(f"persistent fault, stop, heal, rerun [{Client.__name__}]", rerun, server, wall, first_run_requests=r.stats["requests"],
               first_run_kept=kept, first_run_wall_s=round(first_wall, 2), resent=len(resent))
    assert scores.valid.all() and scores.predict().tolist() == [label_of(p) for p in prompts]
    assert len(resent) == len(set(resent)) == 24 - kept and rerun.stats["cache_hits"] == kept
    assert prompts[13] in resent


def _stored_by_prompt(r: EndpointReasoner, prompts):
    """(prompts, answers) of what the cache holds for these prompts."""
    from verbalrec.reason.endpoint import _key
    keys = {_key(r.url, r.config.mode, r.request_body(p)): p for p in prompts}
    got = r._cache.get_many(list(keys))
    return [keys[k] for k in got], list(got.values())


@pytest.mark.parametrize("asynchronous", [True, False], ids=["async", "threads"])
def test_the_stage1_endpoint_oracle_rewards_through_faults(work, tmp_path, asynchronous):
    import asyncio

    from verbalrec.rewards.stage1 import oracle_tasks
    from verbalrec.train.grpo_config import Stage1Config
    from verbalrec.train.stage1 import make_oracle, stage1_rewards
    tasks, contexts, prompts, catalog = work
    n = 12
    plan = lambda p, attempt: FAULTS[_digest(p) % 9] if attempt == 0 else None  # noqa: E731
    with FaultServer(plan, answer, hang_s=1.5, mode="logprobs") as server:
        cfg = Stage1Config(tasks="t", out=str(tmp_path), policy="p", oracle=server.base_url, oracle_model="m",
                           oracle_async=asynchronous, faithfulness_gate=False)  # both: async is make_oracle's default
        oracle = make_oracle(cfg, catalog, tmp_path)
        assert isinstance(oracle, EndpointReasoner) and oracle.config.mode == "logprobs"
        for k, v in FAST.items():  # make_oracle keeps the defaults (60 s timeout, 30 s longest wait)
            setattr(oracle.config, k, v)
        (accuracy, *_), _ = stage1_rewards(cfg, oracle, None)
        kw = {"prompts": None, "completions": contexts[:n], "candidates": [t.candidates for t in tasks[:n]],
              "label": [t.label for t in tasks[:n]]}
        call = (lambda: asyncio.run(accuracy(**kw))) if asynchronous else (lambda: accuracy(**kw))  # TRL awaits it
        rewards, wall = timed(call)
        figures = report(f"Stage 1 oracle (logprobs, {'async' if asynchronous else 'threads'}), accuracy reward",
                         oracle, server, wall)
        # the oracle answers label_of(prompt); the reward is 1 where that is the target
        oracle_prompts = [build_prompt(c, t.candidates, catalog)
                          for t, c in zip(oracle_tasks(kw["candidates"], kw["label"]), kw["completions"])]
        assert rewards == [float(label_of(p) == lab) for p, lab in zip(oracle_prompts, kw["label"])]
        assert figures["answers_kept"] == n and figures["retries"] == sum(server.faults().values())
        seen = len(server.log)
        assert call() == rewards and len(server.log) == seen  # the rerun is answered by the cache
    assert (tmp_path / "oracle_cache.sqlite").exists()
