"""Micro-batching of query encodes.

Concurrent requests each want one short text encoded; one forward pass over 32 texts
costs little more than over one. Requests put their texts on a bounded queue; a single
worker takes whatever is waiting, runs one forward pass in a dedicated thread (off the
event loop), and resolves each request's future. Whatever arrives during a forward pass
forms the next batch. Only under concurrent load (the previous batch held more than one
request) does the worker also wait up to ``batch_wait_ms`` for stragglers, so a lone
client never pays that wait. A full queue answers 429 rather than letting latency grow
without bound.

A request that does more with its vectors (a search) hands that work to the batcher too
(``encode_then``): it runs on one second thread, beside the next forward pass, instead of
hopping to a pool of threads that would only take turns at the interpreter lock.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from search.encoder import Kind, TextEncoder
from search.errors import OverloadedError

from . import metrics


@dataclass
class _Job:
    texts: list[str]
    kind: Kind
    future: asyncio.Future
    then: Callable[[np.ndarray], Any] | None = None  # run on the vectors by the second stage


class MicroBatcher:
    def __init__(self, encoder: TextEncoder, *, max_wait_ms: float, max_batch: int, queue_max: int,
                 enabled: bool = True) -> None:
        self.encoder = encoder
        self.max_wait = max_wait_ms / 1000
        self.max_batch = max_batch
        self.enabled = enabled
        self.queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=queue_max)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode")
        # What requests do with their vectors (a search) runs on one thread of its own,
        # beside the next forward pass: no hop to a pool of threads per request, whose
        # threads would only take turns at the interpreter lock.
        self._after = ThreadPoolExecutor(max_workers=1, thread_name_prefix="after-encode")
        self._task: asyncio.Task | None = None
        self._last_jobs = 1  # requests in the previous batch: > 1 means concurrent load

    async def start(self) -> None:
        if self.enabled:
            self._task = asyncio.create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._after.shutdown(wait=False, cancel_futures=True)

    async def encode(self, texts: list[str], kind: Kind = "query") -> np.ndarray:
        """Vectors for ``texts`` (already validated and normalised)."""
        return await self.encode_then(texts, kind, None)

    async def encode_then(self, texts: list[str], kind: Kind,
                          then: Callable[[np.ndarray], Any] | None) -> Any:
        """``then(vectors)`` of the vectors for ``texts``, run off the event loop on the
        batcher's second thread (the vectors themselves when ``then`` is None)."""
        loop = asyncio.get_running_loop()
        if not self.enabled or len(texts) >= self.max_batch:
            # Big requests are a batch already; without batching, each request encodes alone.
            vectors = await loop.run_in_executor(self._executor, self._encode, texts, kind)
            return vectors if then is None else await loop.run_in_executor(self._after, then, vectors)
        job = _Job(texts, kind, loop.create_future(), then)
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:
            metrics.REJECTED.inc()
            raise OverloadedError("too many queries waiting to be encoded; retry shortly",
                                  {"queue_max": self.queue.maxsize}) from None
        metrics.QUEUE_DEPTH.set(self.queue.qsize())
        return await job.future

    def _encode(self, texts: list[str], kind: Kind) -> np.ndarray:
        metrics.BATCH_SIZE.observe(len(texts))
        return self.encoder.encode(texts, kind).vectors

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self.queue.get()
            jobs = [first]
            size = len(first.texts)
            while size < self.max_batch and not self.queue.empty():  # what is waiting now
                job = self.queue.get_nowait()
                jobs.append(job)
                size += len(job.texts)
            wait = self.max_wait if self._last_jobs > 1 else 0.0
            deadline = time.monotonic() + wait
            while size < self.max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self.queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                jobs.append(job)
                size += len(job.texts)
            self._last_jobs = len(jobs)
            metrics.QUEUE_DEPTH.set(self.queue.qsize())
            await self._dispatch(loop, jobs)

    async def _dispatch(self, loop: asyncio.AbstractEventLoop, jobs: list[_Job]) -> None:
        for kind in {j.kind for j in jobs}:
            group = [j for j in jobs if j.kind == kind and not j.future.cancelled()]
            texts = [t for j in group for t in j.texts]
            if not texts:
                continue
            try:
                vectors = await loop.run_in_executor(self._executor, self._encode, texts, kind)
            except Exception as exc:  # hand the error to every waiting request
                for j in group:
                    if not j.future.done():
                        j.future.set_exception(exc)
                continue
            start, after = 0, []
            for j in group:
                part = vectors[start:start + len(j.texts)]
                start += len(j.texts)
                if j.then is not None:
                    after.append((j.future, j.then, part))
                elif not j.future.done():
                    j.future.set_result(part)
            if after:
                self._after.submit(_finish, loop, after)


def _finish(loop: asyncio.AbstractEventLoop,
            jobs: list[tuple[asyncio.Future, Callable[[np.ndarray], Any], np.ndarray]]) -> None:
    """Run each job's ``then`` on its vectors and hand the result (or error) back."""
    for future, then, vectors in jobs:
        if future.cancelled():
            continue
        try:
            result, error = then(vectors), None
        except Exception as exc:
            result, error = None, exc
        loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future, result: Any, error: Exception | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
