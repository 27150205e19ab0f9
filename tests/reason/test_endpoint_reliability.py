"""The endpoint client stores only validated answers: an error or malformed body is retried and
never cached, answers received before an abort are kept, and Retry-After never waits longer
than backoff_max."""

import threading
import time

import pytest

from serve_helpers import FakeServer, completion_logprobs

from verbalrec.reason.endpoint import EndpointError, EndpointReasoner
from verbalrec.reason.prompt import build_prompt

from test_endpoint import OK, config, tiny_tasks


@pytest.fixture
def waits(monkeypatch):
    """The waits both clients chose, recorded instead of slept."""
    import verbalrec.reason.endpoint as endpoint
    chosen: list[float] = []

    async def record(delay):
        chosen.append(delay)

    monkeypatch.setattr(endpoint, "backoff_sleep", chosen.append)
    monkeypatch.setattr(endpoint, "backoff_sleep_async", record)
    return chosen


@pytest.fixture(params=["threads", "async"])
def Client(request):
    """Each test runs against both clients: threads (EndpointReasoner) and the event loop
    (AsyncEndpointReasoner, Stage 1's default endpoint oracle)."""
    if request.param == "async":
        from verbalrec.reason.endpoint_async import AsyncEndpointReasoner
        return AsyncEndpointReasoner
    return EndpointReasoner


def healthy(n, body):
    return 200, {}, OK


def test_a_200_error_body_is_retried_and_never_cached(Client, tmp_path, waits):
    tasks, contexts, catalog = tiny_tasks()
    error = (200, {}, {"error": {"message": "CUDA out of memory", "type": "server_error"}})
    with FakeServer(lambda n, body: error if n < 2 else (200, {}, OK)) as fake:
        r = Client(config(tmp_path, fake.base_url, mode="generative"), catalog)
        s = r.score(tasks[:1], contexts[:1])
    assert s.valid.all() and len(fake.requests) == 3 and r.stats["retries"] == 2 and r.stats["stored"] == 1


def test_an_error_body_that_persists_stops_clearly_and_a_rerun_sends_again(Client, tmp_path, waits):
    tasks, contexts, catalog = tiny_tasks()
    state = {"healthy": False}  # one server (the cache key holds the URL), healthy on the rerun
    with FakeServer(lambda n, body: (200, {}, OK) if state["healthy"] else (200, {}, {"error": "model is loading"})) as fake:
        cfg = config(tmp_path, fake.base_url, mode="generative", max_retries=1)
        with pytest.raises(EndpointError, match=r"failed 2 times \(last: error body: model is loading\)") as err:
            Client(cfg, catalog).score(tasks[:2], contexts[:2])
        assert "\n" not in str(err.value) and len(fake.requests) == 4
        state["healthy"] = True
        again = Client(cfg, catalog)
        s = again.score(tasks[:2], contexts[:2])
    assert s.valid.all() and len(fake.requests) == 6 and again.stats["cache_hits"] == 0  # nothing was cached


def test_malformed_json_is_retried(Client, tmp_path, waits):
    tasks, contexts, catalog = tiny_tasks()
    with FakeServer(lambda n, body: (200, {}, '{"choices": [') if n == 0 else (200, {}, OK)) as fake:
        r = Client(config(tmp_path, fake.base_url, mode="generative"), catalog)
        assert r.score(tasks[:1], contexts[:1]).valid.all()
    assert len(fake.requests) == 2 and r.stats["retries"] == 1


@pytest.mark.parametrize("payload", [[1, 2], {"choices": []}, {"choices": [{"index": 0}]}, {"id": "x"}])
def test_a_body_without_an_answer_is_not_stored(Client, tmp_path, waits, payload):
    tasks, contexts, catalog = tiny_tasks()
    with FakeServer(lambda n, body: (200, {}, payload)) as fake:
        r = Client(config(tmp_path, fake.base_url, mode="generative", max_retries=1), catalog)
        with pytest.raises(EndpointError, match="failed 2 times"):
            r.score(tasks[:1], contexts[:1])
    assert r.stats["stored"] == 0


@pytest.mark.parametrize("logprobs", [{"content": [{}]}, {"top_logprobs": [{" A": "high"}]}, {"top_logprobs": 3}])
def test_malformed_logprobs_are_retried_and_not_stored(Client, tmp_path, waits, logprobs):
    tasks, contexts, catalog = tiny_tasks()
    body = {"choices": [{"text": " A", "logprobs": logprobs}]}
    with FakeServer(lambda n, b: (200, {}, body) if n == 0 else (200, {}, completion_logprobs({" A": -0.1}))) as fake:
        r = Client(config(tmp_path, fake.base_url, mode="logprobs"), catalog)
        assert r.score(tasks[:1], contexts[:1]).valid.all()
    assert len(fake.requests) == 2 and r.stats["retries"] == 1 and r.stats["stored"] == 1


def test_logprobs_missing_is_refused_before_caching(Client, tmp_path, waits):
    tasks, contexts, catalog = tiny_tasks()
    state = {"logprobs": False}
    respond = lambda n, body: (200, {}, completion_logprobs({" A": -0.1}) if state["logprobs"] else OK)  # noqa: E731
    with FakeServer(respond) as fake:
        cfg = config(tmp_path, fake.base_url, mode="logprobs")
        with pytest.raises(EndpointError, match="sent no logprobs"):
            Client(cfg, catalog).score(tasks[:1], contexts[:1])
        state["logprobs"] = True
        assert Client(cfg, catalog).score(tasks[:1], contexts[:1]).valid.all()
    assert len(fake.requests) == 2  # the refused answer was not cached


def test_answers_received_before_an_abort_are_kept(Client, tmp_path, waits):
    tasks, contexts, catalog = tiny_tasks("train")
    tasks, contexts = tasks[:6], contexts[:6]
    prompts = [build_prompt(c, t.candidates, catalog) for t, c in zip(tasks, contexts)]
    state = {"bad": prompts[0]}
    arrived = threading.Barrier(6, timeout=10)  # all six in flight before the bad one fails

    def respond(n, body):  # the bad one fails first; the others answer while the client aborts
        if state["bad"] and n < 6:
            arrived.wait()
        if body["prompt"] == state["bad"]:
            return 400, {}, {"error": "prompt too long"}
        time.sleep(0.3)
        return 200, {}, OK

    with FakeServer(respond) as fake:
        cfg = config(tmp_path, fake.base_url, mode="generative", concurrency=6)
        first = Client(cfg, catalog)
        with pytest.raises(EndpointError, match="HTTP 400"):
            first.score(tasks, contexts)
        assert first.stats["stored"] == 5 and len(fake.requests) == 6
        state["bad"] = None  # the server is fixed
        rerun = Client(cfg, catalog)
        assert rerun.score(tasks, contexts).valid.all()
    assert [q["body"]["prompt"] for q in fake.requests[6:]] == [prompts[0]]  # only what was missing
    assert rerun.stats["cache_hits"] == 5


def test_retry_after_is_capped_at_backoff_max(Client, tmp_path, waits):
    tasks, contexts, catalog = tiny_tasks()
    with FakeServer(lambda n, body: (429, {"Retry-After": "6"}, "slow down") if n == 0 else (200, {}, OK)) as fake:
        r = Client(config(tmp_path, fake.base_url, mode="generative", backoff_max=0.5), catalog)
        r.score(tasks[:1], contexts[:1])
    assert waits == [0.5] and len(fake.requests) == 2


def test_an_http_date_retry_after_is_understood(Client, tmp_path, waits):
    import email.utils
    tasks, contexts, catalog = tiny_tasks()
    when = email.utils.formatdate(time.time() + 3, usegmt=True)
    with FakeServer(lambda n, body: (503, {"Retry-After": when}, "later") if n == 0 else (200, {}, OK)) as fake:
        Client(config(tmp_path, fake.base_url, mode="generative", backoff_max=10), catalog).score(
            tasks[:1], contexts[:1])
    assert len(waits) == 1 and 1.0 <= waits[0] <= 3.5


def test_a_hang_is_a_timeout_that_is_retried(Client, tmp_path, waits):
    tasks, contexts, catalog = tiny_tasks()
    release = threading.Event()

    def respond(n, body):
        if n == 0:
            release.wait(5)  # hangs past the client's timeout
        return 200, {}, OK

    with FakeServer(respond) as fake:
        r = Client(config(tmp_path, fake.base_url, mode="generative", timeout=0.3), catalog)
        assert r.score(tasks[:1], contexts[:1]).valid.all()
        release.set()
    assert r.stats["requests"] == 2 and r.stats["retries"] == 1
