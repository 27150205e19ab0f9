"""An oracle Reasoner behind an OpenAI-compatible endpoint (vLLM, llama.cpp server, OpenAI,
``transformers serve``), for Stage 1 GRPO rewards. Both modes send ``prompt.build_prompt`` as is.

* ``logprobs``: one token and its top log-probs per task; candidate j scores log P(label j) (" A"
  and "A" both count), -inf outside the top-k; no label in the top-k: invalid. A full ranking per request.
* ``generate``: a short greedy answer parsed by ``lm.extract_answer``; one-hot, invalid if unparseable.

Responses are validated (an answer in the mode's shape, no ``error`` object), then cached in sqlite
keyed by the request the moment each arrives: a repeated ``score`` sends nothing, and a rerun
after an abort sends only what is missing. Connection errors, timeouts, 429 and 5xx are retried by
``urllib3.Retry`` behind the ``requests`` adapter; malformed or error bodies by the client; both
within one budget of ``max_retries``, waiting at most ``backoff_max`` (Retry-After included). The API
key is read at request time from the variable ``api_key_env`` names; never stored, cached or logged.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import os
import random
import re
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ..config import help_field
from ..errors import InputError
from ..logs.catalog import Catalog
from ..models.load import cache_dir
from ..tasks.schema import Task
from .base import Scores
from .prompt import answer_labels, build_prompt, extract_answer

backoff_sleep = time.sleep  # one name for the retry waits (tests record them instead of sleeping)
backoff_sleep_async = asyncio.sleep  # the same, for the event-loop client (endpoint_async)
log = logging.getLogger(__name__)
MODES = ("logprobs", "generative")
# Worth a retry: the server may be starting, overloaded or restarting. urllib3 retries these
# statuses, connection errors and timeouts; the client retries what breaks later (a body cut off).
TRANSIENT_STATUS = frozenset([429, *range(500, 600)])
TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
             requests.exceptions.RetryError)
NO_LOGPROBS = "no logprobs in the body"


def _default_cache() -> str:  # resolved per config, so a $VERBALREC_CACHE set later still counts
    return str(cache_dir() / "endpoint_cache.sqlite")


_opt = help_field


@dataclass
class EndpointConfig:
    base_url: str = _opt("http://127.0.0.1:8000/v1", "API root ending in /v1")
    model: str = _opt("", "model name the server serves (its `model` request field)")
    api_key_env: str = _opt("OPENAI_API_KEY", "NAME of the environment variable holding the API key "
                            "(unset: no Authorization header)")
    mode: str = _opt("logprobs", "'logprobs': rank every label from one token's top log-probs; "
                     "'generative': parse a short answer")
    chat: bool = _opt(False, "send the prompt as one user message to /chat/completions, not /completions")
    max_tokens: int = _opt(16, "answer length in generate mode (logprobs mode asks for 1)")
    top_logprobs: int = _opt(20, "top log-probs asked for in logprobs mode (vLLM: up to 20; OpenAI "
                             "/completions: 5)")
    temperature: float = _opt(0.0, "sampling temperature (0: greedy)")
    concurrency: int = _opt(4, "requests in flight at once (threads)")
    max_retries: int = _opt(5, "retries per request after connection errors, timeouts, 429, 5xx and "
                            "malformed or error bodies")
    backoff_base: float = _opt(0.5, "seconds before the first retry; doubles per retry")
    backoff_max: float = _opt(30.0, "longest wait between retries, in seconds (a longer Retry-After is cut to it)")
    timeout: float = _opt(60.0, "seconds to wait for one response")
    cache_path: str = field(default_factory=_default_cache, metadata={
        "help": "sqlite file of raw responses (default: <verbalrec cache>/endpoint_cache.sqlite)"})

    def __post_init__(self):
        self.base_url = str(self.base_url).rstrip("/")
        for name, ok, fix in [
            ("base_url", self.base_url.startswith(("http://", "https://")), "use e.g. http://127.0.0.1:8000/v1"),
            ("model", bool(str(self.model).strip()), "name the model the server serves (GET <base_url>/models)"),
            ("api_key_env", bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(self.api_key_env))),
             "give the NAME of an environment variable, e.g. OPENAI_API_KEY, never the key itself"),
            ("mode", self.mode in MODES, f"use one of {MODES}"),
            ("max_tokens", self.max_tokens >= 1, "use at least 1"),
            ("top_logprobs", 1 <= self.top_logprobs <= 20, "use 1 to 20"),
            ("temperature", self.temperature >= 0, "use 0 (greedy) or more"),
            ("concurrency", self.concurrency >= 1, "use at least 1"),
            ("max_retries", self.max_retries >= 0, "use 0 or more"),
            ("backoff_base", 0 <= self.backoff_base <= self.backoff_max, "use 0 <= backoff_base <= backoff_max"),
            ("timeout", self.timeout > 0, "use a positive number of seconds"),
        ]:
            if not ok:  # never echo api_key_env's value: it may be a pasted key
                shown = "is not a variable name" if name == "api_key_env" else f"is {getattr(self, name)!r}"
                raise InputError(f"{name} {shown}", field=name, fix=fix)


class EndpointError(InputError):
    """The endpoint refused a request, stayed unreachable through every retry, or lacks a feature."""


class _Cache:
    """key -> raw response JSON. Each write is its own transaction, so a response is stored whole
    or not at all, and an interrupted ``score`` keeps the responses it already received."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, timeout=60, check_same_thread=False)
        with self.lock, self.db:
            self.db.execute("PRAGMA journal_mode=WAL")  # other processes may read while one writes
            self.db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, response TEXT NOT NULL)")

    def get_many(self, keys: Sequence[str]) -> dict[str, dict]:
        with self.lock:
            rows = [self.db.execute("SELECT response FROM responses WHERE key = ?", (k,)).fetchone() for k in keys]
        return {k: json.loads(r[0]) for k, r in zip(keys, rows) if r}

    def put(self, key: str, response: dict) -> None:
        with self.lock, self.db:
            self.db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?)", (key, json.dumps(response)))


class _BadAnswer(Exception):
    """A 200 body that is no answer (error object, malformed JSON, no choices): retried, never stored."""

    def __init__(self, failure: str, fix: str = "check the server's log; raise max_retries if it recovers"):
        super().__init__(failure)
        self.fix = fix


class _Budget:
    """The retries one request may still make, shared by urllib3 (connection errors, timeouts,
    429, 5xx) and the client (bodies that fail validation). Every wait is chosen here:
    exponential backoff with jitter, or the server's Retry-After, never above backoff_max."""

    def __init__(self, reasoner: "EndpointReasoner"):
        self.reasoner, self.left, self.used = reasoner, reasoner.config.max_retries, 0

    def take(self, failure: str, retry_after: float = 0.0) -> float:
        """Spend one retry; the seconds to wait before it."""
        c = self.reasoner.config
        top = min(c.backoff_max, c.backoff_base * 2 ** self.used)
        # jitter, so workers retrying together do not return together
        delay = min(c.backoff_max, max(retry_after, random.uniform(top / 2, top)))
        self.left, self.used = self.left - 1, self.used + 1
        log.warning("%s: %s; retry %d/%d in %.2fs", self.reasoner.url, failure, self.used, c.max_retries, delay)
        self.reasoner._count("retries")
        return delay

    def wait(self, failure: str, retry_after: float = 0.0) -> None:
        backoff_sleep(self.take(failure, retry_after))

    def spent(self, failure: str, fix: str = "check that the server is up at base_url, or raise max_retries"
              ) -> EndpointError:
        return EndpointError(f"{self.reasoner.url} failed {self.used + 1} times (last: {failure})", fix=fix)


class _Retry(Retry):
    """urllib3's retry of connection errors, timeouts, 429 and 5xx, waiting through the request's
    ``_Budget`` (urllib3 itself would sleep the full Retry-After, uncapped)."""

    budget: _Budget | None = None

    @classmethod
    def of(cls, budget: _Budget) -> "_Retry":
        retry = cls(total=budget.left, allowed_methods=None, status_forcelist=TRANSIENT_STATUS,
                    raise_on_status=False, respect_retry_after_header=True)  # POST is safe to repeat here
        retry.budget = budget
        return retry

    def new(self, **kw) -> "_Retry":
        retry = super().new(**kw)
        retry.budget = self.budget
        return retry

    def sleep(self, response=None) -> None:
        last = self.history[-1] if self.history else None
        failure = (f"HTTP {last.status}" if last and last.status else
                   type(last.error).__name__ if last and last.error else "error")
        self.budget.wait(failure, _retry_after(response.headers) if response is not None else 0.0)
        self.budget.reasoner._count("requests")  # urllib3 sends again after this


class EndpointReasoner:
    """The Reasoner protocol over HTTP. ``stats``: HTTP attempts, retries, cache hits, and answers
    stored (each validated, then cached the moment it arrives)."""

    uses_text = True

    def __init__(self, config: EndpointConfig, catalog, *, name: str | None = None):
        self.config = config
        self.catalog = catalog if isinstance(catalog, Catalog) else Catalog(catalog)
        self.name = name or f"endpoint-{config.mode}:{config.model}"
        self.url = f"{config.base_url}/{'chat/completions' if config.chat else 'completions'}"
        self.stats = {"requests": 0, "retries": 0, "cache_hits": 0, "stored": 0}
        self.last_answers: list[str] = []
        self._cache = _Cache(Path(config.cache_path))
        self._lock, self._local = threading.Lock(), threading.local()

    def fit(self, train):  # the oracle is fixed
        return self

    def request_body(self, prompt: str) -> dict:
        c, logprobs = self.config, self.config.mode == "logprobs"
        body = {"model": c.model, "temperature": c.temperature, "max_tokens": 1 if logprobs else c.max_tokens}
        if c.chat:
            body["messages"] = [{"role": "user", "content": prompt}]
            body.update({"logprobs": True, "top_logprobs": c.top_logprobs} if logprobs else {})
        else:
            body.update(prompt=prompt, **({"logprobs": c.top_logprobs} if logprobs else {}))
        return body

    def score(self, tasks: Sequence[Task], contexts: Sequence[str]) -> Scores:
        if len(tasks) != len(contexts):
            raise InputError(f"{len(tasks)} tasks but {len(contexts)} contexts", fix="pass one context per task")
        responses = self.fetch([build_prompt(x, t.candidates, self.catalog) for t, x in zip(tasks, contexts)])
        values = np.full((len(tasks), max((len(t.candidates) for t in tasks), default=0)), -np.inf)
        valid = np.zeros(len(tasks), bool)
        self.last_answers = [_answer_text(r) for r in responses]
        for i, (task, resp, text) in enumerate(zip(tasks, responses, self.last_answers)):
            k = len(task.candidates)
            if self.config.mode == "logprobs":
                values[i, :k] = _label_scores(_top_logprobs(resp), k)
                valid[i] = np.isfinite(values[i, :k]).any()
            else:
                j = extract_answer(text, [self.catalog.title(c) for c in task.candidates])
                values[i, :k] = 0.0
                if j is not None:
                    values[i, j], valid[i] = 1.0, True
        return Scores(values, valid)

    def fetch(self, prompts: Sequence[str]) -> list[dict]:
        """Raw responses, one per prompt: cached ones read, identical ones sent once, the rest sent
        ``concurrency`` at a time. Each answer is validated and cached as soon as it arrives, so
        after an error or an interrupt a rerun sends only what is missing."""
        bodies = [self.request_body(p) for p in prompts]
        keys = [_key(self.url, self.config.mode, b) for b in bodies]
        got = {k: r for k, r in self._cache.get_many(list(dict.fromkeys(keys))).items()
               if self._problem(r) is None}  # an entry an older version stored unchecked is sent again
        self.stats["cache_hits"] += sum(k in got for k in keys)
        todo = {k: b for k, b in zip(keys, bodies) if k not in got}
        if todo:
            pool = ThreadPoolExecutor(min(self.config.concurrency, len(todo)), thread_name_prefix="endpoint")
            try:
                for fut in as_completed([pool.submit(self._fetch_one, k, b) for k, b in todo.items()]):
                    key, answer = fut.result()
                    got[key] = answer
            finally:  # after an error send nothing more; requests in flight finish and store their answers
                pool.shutdown(cancel_futures=True)
        return [got[k] for k in keys]

    def _fetch_one(self, key: str, body: dict) -> tuple[str, dict]:
        answer = self._post(body)
        self._cache.put(key, answer)
        self._count("stored")
        return key, answer

    def _post(self, body: dict) -> dict:
        """One validated answer, retried within one budget of ``max_retries``."""
        c, budget = self.config, _Budget(self)
        session, adapter = self._session()
        fix = "check that the server is up at base_url, or raise max_retries"
        while True:
            self._count("requests")
            adapter.max_retries = _Retry.of(budget)
            key = os.environ.get(c.api_key_env)
            try:
                resp = session.post(self.url, json=body, timeout=c.timeout,
                                    headers={"Authorization": f"Bearer {key}"} if key else {})
                return self._answer(resp)
            except TRANSIENT as err:
                failure = type(err).__name__
            except _BadAnswer as err:
                failure, fix = str(err), err.fix
            if budget.left <= 0:
                raise budget.spent(failure, fix)
            budget.wait(failure)

    def _session(self) -> tuple[requests.Session, HTTPAdapter]:
        """A session per worker thread (sessions are not thread-safe), its adapter retrying."""
        if not hasattr(self._local, "session"):
            session, adapter = requests.Session(), HTTPAdapter()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session, self._local.adapter = session, adapter
        return self._local.session, self._local.adapter

    def _answer(self, resp: requests.Response) -> dict:
        """The body of a 2xx response once it is an answer; urllib3 has already retried 429/5xx."""
        if resp.status_code in TRANSIENT_STATUS:
            raise _BadAnswer(f"HTTP {resp.status_code}")
        if resp.status_code >= 300:
            raise self._refused(resp)  # a retry would get the same answer
        try:
            data = resp.json()
        except ValueError:
            raise _BadAnswer("non-JSON body", fix="check that base_url is the API root, ending in /v1") from None
        return self._checked(data)

    def _checked(self, data) -> dict:
        """``data`` if it is an answer; else a retryable _BadAnswer, or an EndpointError for a
        server that cannot answer in this mode."""
        problem = self._problem(data)
        if problem == NO_LOGPROBS:  # e.g. `transformers serve` ignores the logprobs field: fail loudly
            raise EndpointError(f"{self.url} sent no logprobs", field="mode",
                                fix="use mode 'generative' with this server, or a server with logprobs (vLLM)")
        if problem:
            raise _BadAnswer(problem)
        return data

    def _problem(self, data) -> str | None:
        """Why ``data`` is not an answer in this mode, or None."""
        if not isinstance(data, dict):
            return f"a JSON {type(data).__name__}, not an object"
        if data.get("error"):
            error = data["error"]
            return "error body: " + self._redact(error.get("message", error) if isinstance(error, dict) else error)
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return "no choices in the body"
        if self.config.mode == "logprobs":
            if not (isinstance(choices[0].get("logprobs"), dict) and choices[0]["logprobs"]):
                return NO_LOGPROBS
            try:  # the shape score() reads: {token: number}
                [float(v) for v in _top_logprobs(data).values() if v is not None]
            except (KeyError, IndexError, TypeError, AttributeError, ValueError):
                return "malformed logprobs in the body"
            return None
        message = choices[0].get("message")
        text = message.get("content") if isinstance(message, dict) else choices[0].get("text")
        return None if isinstance(text, str) else "no answer text in the body"

    def _redact(self, detail) -> str:
        detail, key = " ".join(str(detail).split())[:200], os.environ.get(self.config.api_key_env)
        return detail.replace(key, "***") if key else detail  # some servers echo the key they rejected

    def _refused(self, resp: requests.Response) -> EndpointError:
        fix = (f"set {self.config.api_key_env} to a valid API key" if resp.status_code in (401, 403)
               else "check model, base_url and mode against what the server supports")
        return EndpointError(f"{self.url} answered HTTP {resp.status_code}: {self._redact(resp.text)}", fix=fix)

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1


def _top_logprobs(resp: dict) -> dict[str, float]:
    """{token: logprob} for the first generated token, from the chat or the completions shape."""
    lp = _choice(resp).get("logprobs") or {}
    if lp.get("content"):  # chat: content[0] = {token, logprob, top_logprobs: [{token, logprob}]}
        first = lp["content"][0]
        return dict([(t["token"], t["logprob"]) for t in first.get("top_logprobs") or []]
                    + [(first["token"], first["logprob"])])
    out = dict((lp.get("top_logprobs") or [None])[0] or {})  # completions: [{token: logprob}]
    if lp.get("tokens") and lp.get("token_logprobs"):
        out.setdefault(lp["tokens"][0], lp["token_logprobs"][0])
    return out


def _key(url: str, mode: str, body: dict) -> str:
    """Hash of all that shapes a response (URL, mode, model, prompt, max_tokens, temperature,
    logprobs) and nothing secret."""
    return hashlib.sha256(json.dumps([url, mode, body], sort_keys=True).encode()).hexdigest()


def _retry_after(headers) -> float:
    """Seconds the server asked us to wait (Retry-After: seconds or an HTTP date), else 0."""
    value = headers.get("Retry-After") or ""
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return 0.0


def _choice(resp: dict) -> dict:
    return (resp.get("choices") or [{}])[0] or {}


def _answer_text(resp: dict) -> str:
    choice = _choice(resp)
    return (choice.get("message") or {}).get("content") or choice.get("text") or ""


def _label_scores(top: dict[str, float], n: int) -> np.ndarray:
    """log P(label) per candidate; every token that is the label up to spaces counts (' A', 'A')."""
    index = {label.strip(): j for j, label in enumerate(answer_labels(n))}
    out = np.full(n, -np.inf)
    for token, logprob in top.items():
        j = index.get(token.strip())
        if j is not None and logprob is not None:
            out[j] = np.logaddexp(out[j], float(logprob))
    return out
