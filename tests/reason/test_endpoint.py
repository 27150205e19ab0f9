"""EndpointReasoner against a real OpenAI-compatible server (`transformers serve` on a tiny
in-project model, loopback) and, for what that server cannot do (log-probs, failures), against a
scripted stdlib server on loopback."""

import dataclasses
import functools
import logging
import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from serve_helpers import (FakeServer, TransformersServe, build_answering_model, chat_logprobs,  # noqa: E402
                           completion_logprobs, free_port)

from verbalrec.errors import InputError  # noqa: E402
from verbalrec.logs.catalog import Catalog
from verbalrec.reason.endpoint import EndpointConfig, EndpointError, EndpointReasoner  # noqa: E402
from verbalrec.reason.prompt import build_prompt  # noqa: E402
from verbalrec.verbalize.template import TemplateVerbalizer  # noqa: E402

with warnings.catch_warnings():  # `server` is not registered in pyproject (yet); no warning meanwhile
    warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
    server = pytest.mark.server

KEY_ENV, SECRET = "VERBALREC_TEST_API_KEY", "sk-test-Zq8w-not-a-real-key"
OK = {"choices": [{"index": 0, "text": " A", "finish_reason": "stop"}]}


@functools.lru_cache(maxsize=None)
def tiny_tasks(split="test", n_candidates=3):
    from helpers import tiny_catalog, tiny_events
    from verbalrec.logs.schema import EventLog, validate_catalog, validate_events
    from verbalrec.tasks import build_tasks, preset
    cat = validate_catalog(tiny_catalog())
    log = EventLog(validate_events(tiny_events(), catalog=cat), cat, name="tiny")
    tasks = build_tasks(log, preset("paper", n_candidates=n_candidates), progress=False).split(split).tasks()
    catalog = Catalog(tiny_catalog())
    return tasks, TemplateVerbalizer(catalog).verbalize(tasks), catalog


def config(tmp_path, base_url, **kw):
    kw = {"base_url": base_url, "model": "m", "backoff_base": 0.01, "backoff_max": 0.05, "timeout": 5,
          "cache_path": str(tmp_path / "cache.sqlite"), **kw}
    return EndpointConfig(**kw)


def reasoner(tmp_path, base_url, catalog, **kw):
    return EndpointReasoner(config(tmp_path, base_url, **kw), catalog)


# --- config ---------------------------------------------------------------------------------

def test_every_config_field_has_help_and_bad_values_name_the_field(tmp_path):
    assert all(f.metadata.get("help") for f in dataclasses.fields(EndpointConfig))
    for bad, name in [({"mode": "beam"}, "mode"), ({"model": ""}, "model"),
                      ({"base_url": "localhost:8000"}, "base_url"), ({"concurrency": 0}, "concurrency"),
                      ({"backoff_base": 9, "backoff_max": 1}, "backoff_base"),
                      ({"top_logprobs": 50}, "top_logprobs")]:
        with pytest.raises(InputError, match=f"field '{name}'"):
            EndpointConfig(**{"model": "m", "cache_path": str(tmp_path / "c.sqlite"), **bad})


def test_a_key_pasted_as_api_key_env_is_refused_without_echoing_it(tmp_path):
    with pytest.raises(InputError, match="api_key_env") as err:
        config(tmp_path, "http://127.0.0.1:1/v1", api_key_env=SECRET)
    assert SECRET not in str(err.value)


def test_default_cache_lives_under_the_verbalrec_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VERBALREC_CACHE", str(tmp_path / "vc"))
    assert EndpointConfig(model="m").cache_path == str(tmp_path / "vc" / "endpoint_cache.sqlite")


# --- the real server: `transformers serve` on a tiny model ----------------------------------

@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A tiny model taught to answer ' B' after the test prompts, served by `transformers serve`."""
    pytest.importorskip("fastapi", reason="`transformers serve` needs `pip install transformers[serving]`")
    tasks, contexts, catalog = tiny_tasks()
    prompts = [build_prompt(c, t.candidates, catalog) for t, c in zip(tasks, contexts)]
    tmp = tmp_path_factory.mktemp("served")
    model_dir = build_answering_model(tmp / "tiny", prompts)
    proc = TransformersServe(model_dir, tmp / "serve.log")
    if proc.ready_error:
        proc.stop()
        pytest.skip(f"`transformers serve` did not start: {proc.ready_error}")
    yield proc, str(model_dir)
    proc.stop()


@server
@pytest.mark.parametrize("chat", [False, True], ids=["completions", "chat"])
def test_generate_mode_against_transformers_serve(served, tmp_path, chat):
    proc, model = served
    tasks, contexts, catalog = tiny_tasks()
    r = reasoner(tmp_path, proc.base_url, catalog, model=model, mode="generative", max_tokens=4, chat=chat)
    s = r.score(tasks, contexts)
    assert s.values.shape == (len(tasks), 3) and s.valid.all(), r.last_answers
    assert (s.predict() == 1).all() and r.stats["requests"] == len(tasks) and r.stats["retries"] == 0


@server
def test_a_repeated_score_sends_nothing_and_the_key_stays_out_of_the_cache(served, tmp_path, monkeypatch, caplog):
    proc, model = served
    monkeypatch.setenv(KEY_ENV, SECRET)  # sent as a bearer token, which `transformers serve` ignores
    tasks, contexts, catalog = tiny_tasks()
    cfg = config(tmp_path, proc.base_url, model=model, mode="generative", max_tokens=4, api_key_env=KEY_ENV)
    first = EndpointReasoner(cfg, catalog).score(tasks, contexts)
    again = EndpointReasoner(cfg, catalog)  # a new process would see the same: the cache is on disk
    second = again.score(tasks, contexts)
    assert again.stats == {"requests": 0, "retries": 0, "cache_hits": len(tasks), "stored": 0}
    np.testing.assert_array_equal(first.values, second.values)
    np.testing.assert_array_equal(first.valid, second.valid)
    for path in tmp_path.iterdir():  # the sqlite file and its WAL
        assert SECRET.encode() not in path.read_bytes()
    assert SECRET not in caplog.text and SECRET not in repr(cfg)


@server
def test_logprobs_mode_tells_that_transformers_serve_sends_no_logprobs(served, tmp_path):
    proc, model = served
    tasks, contexts, catalog = tiny_tasks()
    r = reasoner(tmp_path, proc.base_url, model=model, mode="logprobs", catalog=catalog)
    with pytest.raises(EndpointError, match="sent no logprobs.*mode 'generative'"):
        r.score(tasks[:1], contexts[:1])


# --- log-prob parsing, on a scripted server speaking the vLLM / OpenAI response shapes --------

def test_logprobs_mode_ranks_every_label_from_one_request(tmp_path):
    tasks, contexts, catalog = tiny_tasks()
    tops = [{" B": -0.2, "A": -1.5, " Z": -3.0},  # " A" and "A" both count; C absent -> -inf
            {" C": -0.1, "C": -0.1, " A": -4.0},  # both spellings of C: their probabilities add
            {" the": -0.1, " Z": -2.0}]  # no label in the top-k: invalid
    with FakeServer(lambda n, body: (200, {}, completion_logprobs(tops[n % 3]))) as fake:
        r = reasoner(tmp_path, fake.base_url, mode="logprobs", concurrency=1, catalog=catalog)
        s = r.score(tasks[:3], contexts[:3])
    bodies = [q["body"] for q in fake.requests]
    assert [b["prompt"] for b in bodies] == [build_prompt(c, t.candidates, catalog)
                                             for t, c in zip(tasks[:3], contexts)]
    assert all(b["max_tokens"] == 1 and b["logprobs"] == 20 and b["temperature"] == 0 for b in bodies)
    np.testing.assert_allclose(s.values[0], [-1.5, -0.2, -np.inf])
    np.testing.assert_allclose(s.values[1], [-4.0, -np.inf, np.log(2 * np.exp(-0.1))])
    assert s.valid.tolist() == [True, True, False] and s.predict().tolist() == [1, 2, -1]


def test_logprobs_over_chat_read_the_chat_shape(tmp_path):
    tasks, contexts, catalog = tiny_tasks()
    with FakeServer(lambda n, body: (200, {}, chat_logprobs({"A": -2.0, "B": -1.0, "C": -0.5}))) as fake:
        s = reasoner(tmp_path, fake.base_url, catalog, mode="logprobs", chat=True).score(tasks[:2], contexts[:2])
    assert fake.requests[0]["path"] == "/v1/chat/completions"
    assert fake.requests[0]["body"]["logprobs"] is True and fake.requests[0]["body"]["top_logprobs"] == 20
    np.testing.assert_allclose(s.values, [[-2.0, -1.0, -0.5]] * 2)


def test_generate_mode_is_one_hot_or_invalid(tmp_path):
    tasks, contexts, catalog = tiny_tasks()
    prompts = [build_prompt(c, t.candidates, catalog) for t, c in zip(tasks[:3], contexts[:3])]
    title = catalog.title(tasks[1].candidates[2])
    answer = dict(zip(prompts, [" A. because", f" I pick {title}", " no idea"]))
    with FakeServer(lambda n, body: (200, {}, {"choices": [{"text": answer[body["prompt"]]}]})) as fake:
        s = reasoner(tmp_path, fake.base_url, catalog, mode="generative").score(tasks[:3], contexts[:3])
    assert s.values[0].tolist() == [1, 0, 0] and s.values[1].tolist() == [0, 0, 1]
    assert s.valid.tolist() == [True, True, False]


# --- failures -------------------------------------------------------------------------------

@pytest.fixture
def waits(monkeypatch):
    """The delays the client chose between retries, recorded instead of slept (no wall clock)."""
    import verbalrec.reason.endpoint as endpoint
    chosen: list[float] = []
    monkeypatch.setattr(endpoint, "backoff_sleep", chosen.append)
    return chosen


def test_503_twice_then_success_retries_with_backoff(tmp_path, waits):
    tasks, contexts, catalog = tiny_tasks()
    with FakeServer(lambda n, body: (503, {}, "busy") if n < 2 else (200, {}, OK)) as fake:
        r = reasoner(tmp_path, fake.base_url, catalog, mode="generative", backoff_base=0.05, backoff_max=1)
        s = r.score(tasks[:1], contexts[:1])
    assert s.valid.all() and len(fake.requests) == 3 and r.stats == {"requests": 3, "retries": 2, "cache_hits": 0, "stored": 1}
    assert len(waits) == 2  # jittered in [d/2, d] for d = 0.05, then 0.1
    assert 0.025 <= waits[0] <= 0.05 and 0.05 <= waits[1] <= 0.1


def test_retry_after_is_respected(tmp_path, waits):
    tasks, contexts, catalog = tiny_tasks()
    slow_down = (429, {"Retry-After": "0.4"}, "slow down")
    with FakeServer(lambda n, body: slow_down if n == 0 else (200, {}, OK)) as fake:
        reasoner(tmp_path, fake.base_url, mode="generative", catalog=catalog, backoff_max=1).score(tasks[:1], contexts[:1])
    assert len(fake.requests) == 2 and waits == [0.4]  # the server's wait beats the shorter backoff


def test_gives_up_after_max_retries_naming_the_url(tmp_path):
    tasks, contexts, catalog = tiny_tasks()
    with FakeServer(lambda n, body: (500, {}, "boom")) as fake:
        r = reasoner(tmp_path, fake.base_url, mode="generative", max_retries=2, catalog=catalog)
        with pytest.raises(EndpointError, match=r"/v1/completions failed 3 times \(last: HTTP 500\)"):
            r.score(tasks[:1], contexts[:1])
    assert len(fake.requests) == 3


def test_an_unreachable_server_is_retried_then_reported(tmp_path):
    tasks, contexts, catalog = tiny_tasks()
    r = reasoner(tmp_path, f"http://127.0.0.1:{free_port()}/v1", max_retries=1, catalog=catalog)
    with pytest.raises(EndpointError, match="failed 2 times.*ConnectionError"):
        r.score(tasks[:1], contexts[:1])


def test_401_fails_at_once_naming_the_variable_never_the_key(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, SECRET)
    tasks, contexts, catalog = tiny_tasks()
    caplog.set_level(logging.DEBUG)
    echo = {"error": {"message": f"Incorrect API key provided: {SECRET}"}}  # as some servers do
    with FakeServer(lambda n, body: (401, {}, echo)) as fake:
        r = reasoner(tmp_path, fake.base_url, api_key_env=KEY_ENV, catalog=catalog)
        with pytest.raises(InputError) as err:
            r.score(tasks[:1], contexts[:1])
    message = str(err.value)
    assert "HTTP 401" in message and fake.base_url in message and f"set {KEY_ENV}" in message
    assert "\n" not in message and SECRET not in message and SECRET not in caplog.text
    assert len(fake.requests) == 1 and fake.requests[0]["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert SECRET.encode() not in (tmp_path / "cache.sqlite").read_bytes()


def test_other_4xx_are_not_retried(tmp_path):
    tasks, contexts, catalog = tiny_tasks()
    with FakeServer(lambda n, body: (404, {}, {"error": "model 'm' not found"})) as fake:
        with pytest.raises(EndpointError, match="HTTP 404.*model 'm' not found"):
            reasoner(tmp_path, fake.base_url, catalog=catalog).score(tasks[:1], contexts[:1])
    assert len(fake.requests) == 1


def test_requests_run_concurrently_and_duplicates_are_sent_once(tmp_path):
    tasks, contexts, catalog = tiny_tasks("train")
    tasks, contexts = tasks[:8] * 2, contexts[:8] * 2
    with FakeServer(lambda n, body: (200, {}, OK), delay=0.3) as fake:
        r = reasoner(tmp_path, fake.base_url, mode="generative", concurrency=4, catalog=catalog)
        s = r.score(tasks, contexts)
    # concurrency shows in the server's own count of requests in flight, not in wall time
    assert len(fake.requests) == 8 and fake.max_in_flight == 4 and s.valid.all()
