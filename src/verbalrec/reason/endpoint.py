"""An oracle Reasoner behind an OpenAI-compatible HTTP endpoint (vLLM, llama.cpp server, OpenAI,
``transformers serve``); Stage 1 GRPO rewards score verbalizations with it.

Both modes send ``prompt.build_prompt`` unchanged:

* ``logprobs``: one request per task for one token with its top log-probabilities; candidate j
  scores log P(label j), with " A" and "A" both counting. Labels outside the top-k get -inf, and
  a row with no label in the top-k is invalid. One request gives a full ranking.
* ``generate``: a short greedy answer parsed by ``lm.extract_answer``. The named candidate scores
  1, and the row is invalid when the answer names no candidate.

Raw responses are cached in sqlite, keyed by the request, so repeating a ``score`` call sends no
requests. The API key is read at request time from the environment variable that ``api_key_env``
names. It is never stored, cached, logged or put in an error message.
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

log = logging.getLogger(__name__)
MODES = ("logprobs", "generate")


def _default_cache() -> str:  # resolved per config, so $VERBALREC_CACHE set later still counts
    return str(cache_dir() / "endpoint_cache.sqlite")


def _help(text: str) -> dict:
    return {"help": text}


@dataclass
class EndpointConfig:
    base_url: str = field(default="http://127.0.0.1:8000/v1", metadata=_help("API root ending in /v1"))
    model: str = field(default="", metadata=_help("model name the server serves (its `model` request field)"))
    api_key_env: str = field(default="OPENAI_API_KEY", metadata=_help(
        "NAME of the environment variable holding the API key (unset: no Authorization header)"))
    mode: str = field(default="logprobs", metadata=_help(
        "'logprobs': rank every label from one token's top log-probs; 'generate': parse a short answer"))
    chat: bool = field(default=False, metadata=_help(
        "send the prompt as one user message to /chat/completions instead of /completions"))
    max_tokens: int = field(default=16, metadata=_help("answer length in generate mode (logprobs mode asks for 1)"))
    top_logprobs: int = field(default=20, metadata=_help(
        "top log-probs per request in logprobs mode (vLLM allows 20; OpenAI /completions allows 5)"))
    temperature: float = field(default=0.0, metadata=_help("sampling temperature (0: greedy)"))
    concurrency: int = field(default=4, metadata=_help("requests in flight at once (threads)"))
    max_retries: int = field(default=5, metadata=_help("retries after connection errors, timeouts, 429 and 5xx"))
    backoff_base: float = field(default=0.5, metadata=_help("seconds before the first retry; doubles per retry"))
    backoff_max: float = field(default=30.0, metadata=_help("longest wait between retries, in seconds"))
    timeout: float = field(default=60.0, metadata=_help("seconds to wait for one response"))
    cache_path: str = field(default_factory=_default_cache, metadata=_help(
        "sqlite file of raw responses (default: <verbalrec cache>/endpoint_cache.sqlite)"))

    def __post_init__(self):
        self.base_url = str(self.base_url).rstrip("/")
        checks = [
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
        ]
        for name, ok, fix in checks:
            if not ok:  # never echo api_key_env's value: a pasted key must not reach a log
                shown = "is not an environment variable name" if name == "api_key_env" else \
                    f"has invalid value {getattr(self, name)!r}"
                raise InputError(f"{name} {shown}", field=name, fix=fix)


class EndpointError(InputError):
    """The endpoint refused the request, or stayed unreachable through every retry."""


class _Cache:
    """key -> raw response JSON. Each write is its own transaction, so a response is stored whole
    or not at all, and an interrupted ``score`` resumes from the responses it already received."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, timeout=60, check_same_thread=False)
        with self.lock, self.db:
            self.db.execute("PRAGMA journal_mode=WAL")  # other processes can read while one writes
            self.db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, response TEXT NOT NULL)")

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        out = {}
        with self.lock:
            for i in range(0, len(keys), 500):  # sqlite limits the number of bound parameters
                part = keys[i:i + 500]
                rows = self.db.execute(
                    f"SELECT key, response FROM responses WHERE key IN ({','.join('?' * len(part))})", part)
                out.update((k, json.loads(r)) for k, r in rows)
        return out

    def put(self, key: str, response: dict) -> None:
        with self.lock, self.db:
            self.db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?)", (key, json.dumps(response)))

    def __len__(self) -> int:
        with self.lock:
            return self.db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]


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
        c = self.config
        body = {"model": c.model, "temperature": c.temperature,
                "max_tokens": 1 if c.mode == "logprobs" else c.max_tokens}
        if c.chat:
            body["messages"] = [{"role": "user", "content": prompt}]
            if c.mode == "logprobs":
                body.update(logprobs=True, top_logprobs=c.top_logprobs)
        else:
            body["prompt"] = prompt
            if c.mode == "logprobs":
                body["logprobs"] = c.top_logprobs
        return body

    def score(self, tasks: Sequence[Task], contexts: Sequence[str]) -> Scores:
        if len(tasks) != len(contexts):
            raise InputError(f"{len(tasks)} tasks but {len(contexts)} contexts", fix="pass one context per task")
        prompts = [build_prompt(ctx, t.candidates, self.catalog) for t, ctx in zip(tasks, contexts)]
        responses = self.fetch(prompts)
        n = max((len(t.candidates) for t in tasks), default=0)
        values, valid = np.full((len(tasks), n), -np.inf), np.zeros(len(tasks), bool)
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
        ``concurrency`` at a time and each cached as soon as it arrives."""
        bodies = [self.request_body(p) for p in prompts]
        keys = [_key(self.url, self.config.mode, b) for b in bodies]
        got = self._cache.get_many(sorted(set(keys)))
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
        c, session = self.config, self._session()
        for attempt in range(c.max_retries + 1):
            self._count("requests")
            try:
                resp = session.post(self.url, json=body, headers=self._headers(), timeout=c.timeout)
            except (requests.ConnectionError, requests.Timeout) as err:
                failure, wait = type(err).__name__, None
            else:
                if resp.status_code < 300:
                    return self._json(resp)
                if resp.status_code != 429 and resp.status_code < 500:
                    raise self._refused(resp)  # a retry would get the same answer
                failure, wait = f"HTTP {resp.status_code}", _retry_after(resp)
            if attempt == c.max_retries:
                break
            delay = max(wait or 0.0, self._backoff(attempt))
            log.warning("%s: %s; retry %d/%d in %.2fs", self.url, failure, attempt + 1, c.max_retries, delay)
            self._count("retries")
            time.sleep(delay)
        raise EndpointError(f"{self.url} failed {c.max_retries + 1} times (last: {failure})",
                            fix="check that the server is up at base_url, or raise max_retries") from None

    def _backoff(self, attempt: int) -> float:
        # exponential, with jitter so that workers retrying together do not hit the server together
        top = min(self.config.backoff_max, self.config.backoff_base * 2 ** attempt)
        return random.uniform(top / 2, top)

    def _refused(self, resp: requests.Response) -> EndpointError:
        key = os.environ.get(self.config.api_key_env)
        detail = " ".join(resp.text.split())[:200]
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
                                fix="check that base_url is the API root ending in /v1") from None

    def _headers(self) -> dict:
        key = os.environ.get(self.config.api_key_env)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):  # sessions are not thread-safe: one per worker
            self._local.session = requests.Session()
        return self._local.session

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1


def _key(url: str, mode: str, body: dict) -> str:
    """Hash of everything that shapes the response (URL, model, mode, prompt, max_tokens,
    temperature, logprobs), and nothing secret."""
    return hashlib.sha256(json.dumps([url, mode, body], sort_keys=True).encode()).hexdigest()


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:  # an HTTP date
        when = email.utils.parsedate_to_datetime(value) if email.utils.parsedate_tz(value) else None
        return max(0.0, when.timestamp() - time.time()) if when else None


def _choice(resp: dict) -> dict:
    choices = resp.get("choices") or [{}]
    return choices[0] or {}


def _answer_text(resp: dict) -> str:
    choice = _choice(resp)
    return (choice.get("message") or {}).get("content") or choice.get("text") or ""


def _top_logprobs(resp: dict) -> dict[str, float]:
    """{token: logprob} for the first generated token, from the chat or the completions shape."""
    lp = _choice(resp).get("logprobs") or {}
    if lp.get("content"):  # chat: content[0] = {token, logprob, top_logprobs: [{token, logprob}]}
        first = lp["content"][0]
        pairs = [(t["token"], t["logprob"]) for t in first.get("top_logprobs") or []]
        return dict(pairs + [(first["token"], first["logprob"])])
    tops = lp.get("top_logprobs") or [None]  # completions: top_logprobs[0] = {token: logprob}
    out = dict(tops[0] or {})
    if lp.get("tokens") and lp.get("token_logprobs"):
        out.setdefault(lp["tokens"][0], lp["token_logprobs"][0])
    return out


def _label_scores(top: dict[str, float], n: int) -> np.ndarray:
    """log P(label) per candidate: every token that is the label up to spaces counts (' A', 'A')."""
    index = {label.strip(): j for j, label in enumerate(answer_labels(n))}
    out = np.full(n, -np.inf)
    for token, logprob in top.items():
        j = index.get(token.strip())
        if j is not None and logprob is not None:
            out[j] = np.logaddexp(out[j], float(logprob))
    return out
