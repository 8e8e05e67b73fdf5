from __future__ import annotations

import asyncio
import time

import numpy as np

from api.batching import MicroBatcher
from search.errors import OverloadedError
from tests.conftest import FakeEncoder


class SlowFake(FakeEncoder):
    """A forward pass costs a fixed time, as a real one roughly does for short texts."""

    def encode(self, texts, kind="query"):
        time.sleep(0.02)
        return super().encode(texts, kind)


def run(coro):
    return asyncio.run(coro)


def test_concurrent_requests_share_forward_passes_and_get_their_own_vectors() -> None:
    encoder = SlowFake()

    async def scenario() -> list[np.ndarray]:
        batcher = MicroBatcher(encoder, max_wait_ms=5, max_batch=16, queue_max=100)
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.encode([f"问题{i}"]) for i in range(40)))
        finally:
            await batcher.stop()

    results = run(scenario())
    assert len(encoder.calls) < 10  # 40 requests, a handful of forward passes
    assert max(len(c) for c in encoder.calls) <= 16
    for i, vectors in enumerate(results):
        assert np.allclose(vectors[0], FakeEncoder().encode_queries([f"问题{i}"])[0])


def test_without_batching_each_request_runs_alone() -> None:
    encoder = SlowFake()

    async def scenario() -> None:
        batcher = MicroBatcher(encoder, max_wait_ms=5, max_batch=16, queue_max=100, enabled=False)
        await asyncio.gather(*(batcher.encode([f"问题{i}"]) for i in range(8)))
        await batcher.stop()

    run(scenario())
    assert [len(c) for c in encoder.calls] == [1] * 8


def test_a_full_queue_is_refused_with_overloaded() -> None:
    async def scenario() -> None:
        batcher = MicroBatcher(SlowFake(), max_wait_ms=50, max_batch=4, queue_max=2)
        await batcher.start()
        try:
            tasks = [asyncio.ensure_future(batcher.encode([f"q{i}"])) for i in range(10)]
            results = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await batcher.stop()
        overloaded = [r for r in results if isinstance(r, OverloadedError)]
        assert overloaded and overloaded[0].http_status == 429
        assert any(isinstance(r, np.ndarray) for r in results)

    run(scenario())


def test_an_encoder_error_reaches_every_waiting_request() -> None:
    class Broken(FakeEncoder):
        def encode(self, texts, kind="query"):
            raise RuntimeError("boom")

    async def scenario() -> None:
        batcher = MicroBatcher(Broken(), max_wait_ms=5, max_batch=8, queue_max=10)
        await batcher.start()
        try:
            results = await asyncio.gather(*(batcher.encode(["x"]) for _ in range(3)),
                                           return_exceptions=True)
        finally:
            await batcher.stop()
        assert all(isinstance(r, RuntimeError) for r in results)

    run(scenario())


def test_a_lone_request_does_not_wait_for_company() -> None:
    """The gathering window only applies under concurrent load: sequential requests with
    a 10-second window still finish well inside it."""
    encoder = SlowFake()

    async def scenario() -> None:
        batcher = MicroBatcher(encoder, max_wait_ms=10_000, max_batch=16, queue_max=100)
        await batcher.start()
        try:
            for i in range(3):
                await asyncio.wait_for(batcher.encode([f"问题{i}"]), timeout=5)
        finally:
            await batcher.stop()

    run(scenario())
    assert [len(c) for c in encoder.calls] == [1, 1, 1]


def test_work_on_the_vectors_runs_on_the_second_thread_with_its_own_vectors() -> None:
    """``encode_then``: each request's ``then`` gets its own vectors, on the batcher's
    second thread (never the event loop's, never the encoder's)."""
    import threading

    encoder = SlowFake()
    seen: list[tuple[str, str]] = []

    def then_for(text: str):
        def then(vectors: np.ndarray) -> tuple[str, float]:
            seen.append((threading.current_thread().name, text))
            time.sleep(0.01)
            return text, float(vectors[0] @ FakeEncoder().encode_queries([text])[0])
        return then

    async def scenario() -> list:  # type: ignore[type-arg]
        batcher = MicroBatcher(encoder, max_wait_ms=5, max_batch=4, queue_max=100)
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.encode_then([f"问题{i}"], "query", then_for(f"问题{i}"))
                                          for i in range(12)))
        finally:
            await batcher.stop()

    results = run(scenario())
    assert [r[0] for r in results] == [f"问题{i}" for i in range(12)]
    assert all(abs(r[1] - 1.0) < 1e-5 for r in results)  # each got its own vector
    assert {name for name, _ in seen} == {"after-encode_0"} and len(encoder.calls) >= 3


def test_an_error_in_the_work_on_the_vectors_reaches_only_its_request() -> None:
    def then(vectors: np.ndarray) -> int:
        raise ValueError("bad filter")

    async def scenario() -> list:  # type: ignore[type-arg]
        batcher = MicroBatcher(SlowFake(), max_wait_ms=5, max_batch=8, queue_max=10)
        await batcher.start()
        try:
            return await asyncio.gather(batcher.encode_then(["甲"], "query", then),
                                        batcher.encode_then(["乙"], "query", lambda v: len(v)),
                                        return_exceptions=True)
        finally:
            await batcher.stop()

    failed, fine = run(scenario())
    assert isinstance(failed, ValueError) and fine == 1
