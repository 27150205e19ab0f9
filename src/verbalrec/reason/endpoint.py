"""An oracle Reasoner behind an OpenAI-compatible endpoint (vLLM, llama.cpp server, OpenAI,
``transformers serve``), for Stage 1 GRPO rewards. Both modes send ``prompt.build_prompt`` as is.

* ``logprobs``: one token and its top log-probs per task; candidate j scores log P(label j) (" A"
  and "A" both count), -inf outside the top-k; no label in the top-k: invalid. A full ranking per request.
* ``generate``: a short greedy answer parsed by ``lm.extract_answer``; one-hot, invalid if unparseable.

Raw responses are cached in sqlite keyed by the request: a repeated ``score`` sends nothing. The API
key is read at request time from the variable ``api_key_env`` names; never stored, cached or logged.
"""

from __future__ import annotations

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

from ..errors import InputError
from ..models.load import cache_dir
from ..tasks.schema import Task
from ..verbalize.template import Catalog
from .base import Scores
from .lm import extract_answer
from .prompt import answer_labels, build_prompt

backoff_sleep = time.sleep  # one name for the retry waits (tests record them instead of sleeping)
log = logging.getLogger(__name__)
MODES = ("logprobs", "generate")
# Worth a retry: the server may be starting, overloaded or restarting.
TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


def _default_cache() -> str:  # resolved per config, so a $VERBALREC_CACHE set later still counts
    return str(cache_dir() / "endpoint_cache.sqlite")


def _opt(default, text: str):
    return field(default=default, metadata={"help": text})


@dataclass
class EndpointConfig:
    base_url: str = _opt("http://127.0.0.1:8000/v1", "API root ending in /v1")
    model: str = _opt("", "model name the server serves (its `model` request field)")
    api_key_env: str = _opt("OPENAI_API_KEY", "NAME of the environment variable holding the API key "
                            "(unset: no Authorization header)")
    mode: str = _opt("logprobs", "'logprobs': rank every label from one token's top log-probs; "
                     "'generate': parse a short answer")
    chat: bool = _opt(False, "send the prompt as one user message to /chat/completions, not /completions")
    max_tokens: int = _opt(16, "answer length in generate mode (logprobs mode asks for 1)")
    top_logprobs: int = _opt(20, "top log-probs asked for in logprobs mode (vLLM: up to 20; OpenAI "
                             "/completions: 5)")
    temperature: float = _opt(0.0, "sampling temperature (0: greedy)")
    concurrency: int = _opt(4, "requests in flight at once (threads)")
    max_retries: int = _opt(5, "retries after connection errors, timeouts, 429 and 5xx")
    backoff_base: float = _opt(0.5, "seconds before the first retry; doubles per retry")
    backoff_max: float = _opt(30.0, "longest wait between retries, in seconds")
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


class EndpointReasoner:
    """The Reasoner protocol over HTTP. ``stats`` counts HTTP attempts, retries and cache hits."""

    uses_text = True

    def __init__(self, config: EndpointConfig, catalog, *, name: str | None = None):
        self.config = config
        self.catalog = catalog if isinstance(catalog, Catalog) else Catalog(catalog)
        self.name = name or f"endpoint-{config.mode}:{config.model}"
        self.url = f"{config.base_url}/{'chat/completions' if config.chat else 'completions'}"
        self.stats = {"requests": 0, "retries": 0, "cache_hits": 0}
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
                values[i, :k] = _label_scores(self._top_logprobs(resp), k)
                valid[i] = np.isfinite(values[i, :k]).any()
            else:
                j = extract_answer(text, [self.catalog.title(c) for c in task.candidates])
                values[i, :k] = 0.0
                if j is not None:
                    values[i, j], valid[i] = 1.0, True
        return Scores(values, valid)

    def fetch(self, prompts: Sequence[str]) -> list[dict]:
        """Raw responses, one per prompt: cached ones read, identical ones sent once, the rest sent
        ``concurrency`` at a time and each cached as soon as it arrives."""
        bodies = [self.request_body(p) for p in prompts]
        keys = [_key(self.url, self.config.mode, b) for b in bodies]
        got = self._cache.get_many(list(dict.fromkeys(keys)))
        self.stats["cache_hits"] += sum(k in got for k in keys)
        todo = {k: b for k, b in zip(keys, bodies) if k not in got}
        if todo:
            pool = ThreadPoolExecutor(min(self.config.concurrency, len(todo)), thread_name_prefix="endpoint")
            try:
                futures = {pool.submit(self._post, body): key for key, body in todo.items()}
                for fut in as_completed(futures):
                    got[futures[fut]] = fut.result()
                    self._cache.put(futures[fut], got[futures[fut]])
            finally:
                pool.shutdown(cancel_futures=True)  # after an error, send nothing more
        return [got[k] for k in keys]

    def _post(self, body: dict) -> dict:
        c = self.config
        if not hasattr(self._local, "session"):  # a session per worker thread: sessions are not thread-safe
            self._local.session = requests.Session()
        for attempt in range(c.max_retries + 1):
            self._count("requests")
            key = os.environ.get(c.api_key_env)
            try:
                resp = self._local.session.post(self.url, json=body, timeout=c.timeout,
                                                headers={"Authorization": f"Bearer {key}"} if key else {})
            except TRANSIENT as err:
                failure, wait = type(err).__name__, 0.0
            else:
                if resp.status_code < 300:
                    return self._json(resp)
                if resp.status_code != 429 and resp.status_code < 500:
                    raise self._refused(resp)  # a retry would get the same answer
                failure, wait = f"HTTP {resp.status_code}", _retry_after(resp)
            if attempt < c.max_retries:
                # exponential backoff with jitter, so workers retrying together do not return together
                top = min(c.backoff_max, c.backoff_base * 2 ** attempt)
                delay = max(wait, random.uniform(top / 2, top))
                log.warning("%s: %s; retry %d/%d in %.2fs", self.url, failure, attempt + 1, c.max_retries, delay)
                self._count("retries")
                backoff_sleep(delay)
        raise EndpointError(f"{self.url} failed {c.max_retries + 1} times (last: {failure})",
                            fix="check that the server is up at base_url, or raise max_retries")

    def _refused(self, resp: requests.Response) -> EndpointError:
        detail, key = " ".join(resp.text.split())[:200], os.environ.get(self.config.api_key_env)
        if key:  # some servers echo the key they rejected
            detail = detail.replace(key, "***")
        fix = (f"set {self.config.api_key_env} to a valid API key" if resp.status_code in (401, 403)
               else "check model, base_url and mode against what the server supports")
        return EndpointError(f"{self.url} answered HTTP {resp.status_code}: {detail}", fix=fix)

    def _json(self, resp: requests.Response) -> dict:
        try:
            return resp.json()
        except ValueError:
            raise EndpointError(f"{self.url} answered HTTP {resp.status_code} with non-JSON text",
                                fix="check that base_url is the API root, ending in /v1") from None

    def _top_logprobs(self, resp: dict) -> dict[str, float]:
        """{token: logprob} for the first generated token, from the chat or the completions shape."""
        lp = _choice(resp).get("logprobs")
        if not lp:  # e.g. `transformers serve` ignores the logprobs field: fail loudly, not all-invalid
            raise EndpointError(f"{self.url} sent no logprobs", field="mode",
                                fix="use mode 'generate' with this server, or a server with logprobs (vLLM)")
        if lp.get("content"):  # chat: content[0] = {token, logprob, top_logprobs: [{token, logprob}]}
            first = lp["content"][0]
            return dict([(t["token"], t["logprob"]) for t in first.get("top_logprobs") or []]
                        + [(first["token"], first["logprob"])])
        out = dict((lp.get("top_logprobs") or [None])[0] or {})  # completions: [{token: logprob}]
        if lp.get("tokens") and lp.get("token_logprobs"):
            out.setdefault(lp["tokens"][0], lp["token_logprobs"][0])
        return out

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1


def _key(url: str, mode: str, body: dict) -> str:
    """Hash of all that shapes a response (URL, mode, model, prompt, max_tokens, temperature,
    logprobs) and nothing secret."""
    return hashlib.sha256(json.dumps([url, mode, body], sort_keys=True).encode()).hexdigest()


def _retry_after(resp: requests.Response) -> float:
    """Seconds the server asked us to wait (Retry-After: seconds or an HTTP date), else 0."""
    value = resp.headers.get("Retry-After", "")
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
