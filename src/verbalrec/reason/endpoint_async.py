"""The endpoint oracle, asynchronous: Stage 1's oracle reward as an async TRL reward function.

TRL awaits async reward functions on an event loop of its own (``GRPOTrainer._calculate_rewards``:
``asyncio.gather`` over them). ``AsyncOracleReward`` runs the unchanged synchronous reward in a
worker thread; the oracle inside it, an ``AsyncEndpointReasoner``, sends its HTTP requests on that
loop instead of on threads -- all B x G verbalizations of a step at once, at most ``concurrency``
in flight (an ``asyncio.Semaphore``), over one pooled ``openai.AsyncOpenAI`` client. Prompts, the
request body, the response cache, the validation of every answer before it is cached and the retry
budget (backoff, ``Retry-After`` capped at ``backoff_max``) stay ``EndpointReasoner``'s: only the
transport differs. Under several
training processes each one has its own loop, so up to N x ``concurrency`` requests are in flight.
"""

from __future__ import annotations

import asyncio
import os
from typing import Sequence

from . import endpoint
from .endpoint import EndpointConfig, EndpointError, EndpointReasoner


def _openai():
    import openai  # a hard dependency; imported only when an async oracle is made
    return openai


class AsyncEndpointReasoner(EndpointReasoner):
    """``EndpointReasoner`` whose requests go out on an event loop, ``concurrency`` at a time.
    ``score`` works as before (called from a thread, it runs on the loop ``AsyncOracleReward`` set)."""

    def __init__(self, config: EndpointConfig, catalog, *, name: str | None = None):
        super().__init__(config, catalog, name=name)
        self.loop: asyncio.AbstractEventLoop | None = None  # where fetch sends requests

    def fetch(self, prompts: Sequence[str]) -> list[dict]:
        coro = self.afetch(prompts)
        if self.loop is None:  # plain synchronous use: a loop of its own for this call
            return asyncio.run(coro)
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def afetch(self, prompts: Sequence[str]) -> list[dict]:
        """Raw responses, one per prompt, as ``EndpointReasoner.fetch`` gives them: cache first
        (entries that fail validation are sent again), identical requests sent once, each answer
        validated and cached when it arrives; after an error nothing more is sent, the requests in
        flight finish and store their answers, then the first error is raised."""
        bodies = [self.request_body(p) for p in prompts]
        keys = [endpoint._key(self.url, self.config.mode, b) for b in bodies]
        got = {k: r for k, r in self._cache.get_many(list(dict.fromkeys(keys))).items() if self._problem(r) is None}
        self.stats["cache_hits"] += sum(k in got for k in keys)
        todo = {k: b for k, b in zip(keys, bodies) if k not in got}
        if todo:
            gate, failed = asyncio.Semaphore(self.config.concurrency), []
            async with self._client() as client:
                async def one(key: str, body: dict) -> None:
                    async with gate:
                        if failed:
                            return
                        try:
                            answer = await self._post_async(client, body)
                        except Exception as err:  # noqa: BLE001 -- raised below, once the others are done
                            failed.append(err)
                            return
                    # a sqlite commit blocks; off the loop, so the other requests keep flowing
                    await asyncio.to_thread(self._cache.put, key, answer)
                    self._count("stored")
                    got[key] = answer
                await asyncio.gather(*(one(k, b) for k, b in todo.items()))
            if failed:
                raise failed[0]
        return [got[k] for k in keys]

    def _client(self):
        c = self.config
        # a local server needs no key; the client insists on one, so it gets a placeholder. Its own
        # retries are off: the budget below retries, with the sync client's waits and checks
        return _openai().AsyncOpenAI(base_url=c.base_url, api_key=os.environ.get(c.api_key_env) or "EMPTY",
                                     timeout=c.timeout, max_retries=0)

    async def _post_async(self, client, body: dict) -> dict:
        """One validated answer, retried within one budget of ``max_retries`` (as ``_post``)."""
        openai = _openai()
        api = client.chat.completions if self.config.chat else client.completions
        budget, fix = endpoint._Budget(self), "check that the server is up at base_url, or raise max_retries"
        while True:
            self._count("requests")
            retry_after = 0.0
            try:
                resp = await api.create(**body)
                # the fields the server sent, as the sync path caches them (a non-object body comes raw)
                return self._checked(resp.model_dump(exclude_unset=True) if hasattr(resp, "model_dump") else resp)
            except EndpointError:  # the server cannot answer in this mode: no retry
                raise
            except openai.APIStatusError as err:
                if err.response.status_code not in endpoint.TRANSIENT_STATUS:
                    raise self._refused(err.response) from None  # a retry would get the same answer
                failure, retry_after = f"HTTP {err.response.status_code}", endpoint._retry_after(err.response.headers)
            except openai.APIConnectionError as err:  # timeouts, resets, bodies cut off
                failure = type(err).__name__
            except (openai.APIResponseValidationError, ValueError):
                failure, fix = "malformed body", "check that base_url is the API root, ending in /v1"
            except endpoint._BadAnswer as err:
                failure, fix = str(err), err.fix
            if budget.left <= 0:
                raise budget.spent(failure, fix)
            await endpoint.backoff_sleep_async(budget.take(failure, retry_after))


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
