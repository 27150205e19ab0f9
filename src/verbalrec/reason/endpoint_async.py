"""The endpoint oracle, asynchronous: Stage 1's oracle reward as an async TRL reward function.

TRL awaits async reward functions on an event loop of its own (``GRPOTrainer._calculate_rewards``:
``asyncio.gather`` over them). ``AsyncOracleReward`` runs the unchanged synchronous reward in a
worker thread; the oracle inside it, an ``AsyncEndpointReasoner``, sends its HTTP requests on that
loop instead of on threads -- all B x G verbalizations of a step at once, at most ``concurrency``
in flight (an ``asyncio.Semaphore``), over one pooled ``openai.AsyncOpenAI`` client (its retries
with exponential backoff, ``Retry-After`` and timeouts). Prompts, the request body, the response
cache and the parsing stay ``EndpointReasoner``'s: only ``fetch`` is replaced. Under several
training processes each one has its own loop, so up to N x ``concurrency`` requests are in flight.
"""

from __future__ import annotations

import asyncio
import os
from typing import Sequence

from . import endpoint
from .endpoint import EndpointConfig, EndpointError, EndpointReasoner


def _openai():
    try:
        import openai
    except ImportError:
        raise EndpointError("the async endpoint oracle needs the openai package", field="oracle_async",
                            fix="pip install openai, or set oracle_async: false") from None
    return openai


class AsyncEndpointReasoner(EndpointReasoner):
    """``EndpointReasoner`` whose requests go out on an event loop, ``concurrency`` at a time.
    ``score`` works as before (called from a thread, it runs on the loop ``AsyncOracleReward`` set)."""

    def __init__(self, config: EndpointConfig, catalog, *, name: str | None = None):
        _openai()  # fail at construction, before any training step
        super().__init__(config, catalog, name=name)
        self.loop: asyncio.AbstractEventLoop | None = None  # where fetch sends requests

    def fetch(self, prompts: Sequence[str]) -> list[dict]:
        coro = self.afetch(prompts)
        if self.loop is None:  # plain synchronous use: a loop of its own for this call
            return asyncio.run(coro)
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def afetch(self, prompts: Sequence[str]) -> list[dict]:
        """Raw responses, one per prompt, as ``EndpointReasoner.fetch`` gives them (cache first,
        identical requests sent once, each response cached when it arrives)."""
        bodies = [self.request_body(p) for p in prompts]
        keys = [endpoint._key(self.url, self.config.mode, b) for b in bodies]
        got = self._cache.get_many(list(dict.fromkeys(keys)))
        self.stats["cache_hits"] += sum(k in got for k in keys)
        todo = {k: b for k, b in zip(keys, bodies) if k not in got}
        if todo:
            gate = asyncio.Semaphore(self.config.concurrency)
            async with self._client() as client:
                async def one(key: str, body: dict) -> None:
                    async with gate:
                        got[key] = await self._post_async(client, body)
                    # a sqlite commit blocks; off the loop, so the other requests keep flowing
                    await asyncio.to_thread(self._cache.put, key, got[key])
                await asyncio.gather(*(one(k, b) for k, b in todo.items()))
        return [got[k] for k in keys]

    def _client(self):
        c = self.config
        # a local server needs no key; the client insists on one, so it gets a placeholder
        return _openai().AsyncOpenAI(base_url=c.base_url, api_key=os.environ.get(c.api_key_env) or "EMPTY",
                                     timeout=c.timeout, max_retries=c.max_retries)

    async def _post_async(self, client, body: dict) -> dict:
        openai = _openai()
        api = client.chat.completions if self.config.chat else client.completions
        self._count("requests")
        try:
            resp = await api.create(**body)
        except openai.APIStatusError as err:  # the client has retried 429 and 5xx already
            code = err.response.status_code
            if code != 429 and code < 500:
                raise self._refused(err.response) from None
            raise self._gave_up(f"HTTP {code}") from None
        except openai.APIConnectionError as err:
            raise self._gave_up(type(err).__name__) from None
        return resp.model_dump(exclude_unset=True)  # the fields the server sent, as the sync path caches them

    def _gave_up(self, last: str) -> EndpointError:
        return EndpointError(f"{self.url} failed {self.config.max_retries + 1} times (last: {last})",
                             fix="check that the server is up at base_url, or raise max_retries")


class AsyncOracleReward:
    """A Stage 1 oracle reward (``rewards.AccuracyReward`` / ``RankingReward``) as an async TRL
    reward function: the reward runs in a worker thread, its oracle's requests on TRL's loop."""

    def __init__(self, reward):
        if not isinstance(reward.oracle, AsyncEndpointReasoner):
            raise TypeError("AsyncOracleReward needs a reward whose oracle is an AsyncEndpointReasoner")
        self.reward, self.__name__ = reward, reward.__name__

    async def __call__(self, **kwargs) -> list[float]:
        oracle = self.reward.oracle
        oracle.loop = asyncio.get_running_loop()
        try:
            return await asyncio.to_thread(self.reward, **kwargs)
        finally:
            oracle.loop = None  # a later plain score() must not wait on a loop that may be gone
