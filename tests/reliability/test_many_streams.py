"""Two hundred streams at once, faults mixed in: every one ends with exactly
one terminal message of the right kind and the totals add up; two hundred
cancels from another thread leave no worker alive within a second."""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import Counter
from typing import Any

import pytest

from streamactors import (
    AuthenticationError,
    Data,
    Error,
    Finish,
    Message,
    ProtocolError,
    ProviderError,
    ReadTimeout,
    StreamCancelled,
    StreamConnectionError,
    StreamHandle,
    Timeout,
)
from streamactors.testing import Fault, LoopbackServer, Script

from . import MESSAGES, MODELS, Recorder, make_client, stream_threads, wait_until

pytestmark = pytest.mark.timeout(60)

N = 200
TOKENS = ("one", " two", " three", " four", " five")
TEXT = "".join(TOKENS)
#: (fault, count, the error type expected or None for a Finish)
MIX: list[tuple[Fault | None, int, type[Exception] | None]] = [
    (None, 100, None),
    (Fault("drop", after=2), 20, StreamConnectionError),
    (Fault("malformed_json", after=2), 20, ProtocolError),
    (Fault("error_event", after=2), 20, ProviderError),
    (Fault("http_error", status=401), 20, AuthenticationError),
    (Fault("stall", after=2, seconds=30), 20, ReadTimeout),
]


def collect(
    target: str, server: LoopbackServer
) -> tuple[list[StreamHandle], dict[Any, list[Message]]]:
    """Start N streams through ``target``; every message, per handle."""
    scripts = [Script(tokens=TOKENS, fault=f) for f, count, _ in MIX for _ in range(count)]
    random.Random(7).shuffle(scripts)
    server.push(*scripts)
    client = make_client(server, timeout=Timeout(connect=10, read=1.0), max_retries=0)
    per: dict[Any, list[Message]] = {}
    try:
        if target == "actor":
            actor = Recorder(mailbox_size=64).start()
            try:
                handles = [client.chat(MODELS["openai"], MESSAGES, stream_to=actor)
                           for _ in range(N)]
                for h in handles:
                    h._done.wait(15)
            finally:
                actor.stop()
                assert actor.join(10)
            for m in actor.messages:
                per.setdefault(m.stream, []).append(m)
        else:
            q: queue.Queue[Message] = queue.Queue(maxsize=32)
            ended = 0
            handles = [client.chat(MODELS["openai"], MESSAGES, stream_to=q) for _ in range(N)]
            while ended < N:
                m = q.get(timeout=15)
                per.setdefault(m.stream, []).append(m)
                ended += isinstance(m, (Error, Finish))
            time.sleep(0.05)
            assert q.empty()
    finally:
        client.close()
    return handles, per


@pytest.mark.parametrize("target", ["actor", "queue"])
def test_many_streams_with_faults_add_up(target: str, server: LoopbackServer,
                                         no_leaks: None) -> None:
    handles, per = collect(target, server)
    assert len(server.requests) == N
    kinds: Counter[Any] = Counter()
    for h in handles:
        msgs = per.get(h, [])
        terms = [m for m in msgs if isinstance(m, (Error, Finish))]
        assert len(terms) == 1 and terms[0] is msgs[-1], f"{h.id}: {terms!r}"
        data = [m for m in msgs if isinstance(m, Data)]
        texts = [m.chunk.text for m in data if m.chunk.text]
        term = terms[0]
        if isinstance(term, Finish):
            kinds[None] += 1
            assert term.result.text == TEXT and texts == list(TOKENS)
            assert term.result.chunks == len(data)
        else:
            kinds[type(term.error)] += 1
            partial = term.error.partial
            assert partial is not None and partial.chunks == len(data)
            assert partial.text == "".join(texts)
            assert texts == list(TOKENS[: len(texts)])
    expected: Counter[Any] = Counter({kind: count for _, count, kind in MIX})
    assert kinds == expected
    assert wait_until(lambda: not stream_threads(), 2.0)


def test_two_hundred_cancels_from_another_thread(server: LoopbackServer,
                                                 no_leaks: None) -> None:
    server.script = Script(tokens=TOKENS, fault=Fault("stall", after=1, seconds=60))
    client = make_client(server, timeout=Timeout(connect=10, read=60))
    actor = Recorder(mailbox_size=16).start()
    try:
        handles = [client.chat(MODELS["openai"], MESSAGES, stream_to=actor) for _ in range(N)]
        assert server.wait_for_requests(N, timeout=20)
        assert wait_until(lambda: len({m.stream for m in actor.messages}) == N, 20)
        time.sleep(0.1)
        assert not any(h.done() for h in handles)
        assert len(stream_threads()) == N
        results: list[bool] = []
        t0 = time.perf_counter()
        canceller = threading.Thread(target=lambda: results.extend(h.cancel() for h in handles))
        canceller.start()
        canceller.join(5)
        gone = wait_until(lambda: not stream_threads(), 1.0, step=0.002)
        elapsed = time.perf_counter() - t0
        assert gone, f"{len(stream_threads())} workers still alive after 1 s"
        print(f"\n{N} cancels: every worker gone in {elapsed * 1000:.0f} ms")
        assert results == [True] * N
        assert wait_until(lambda: server.connections_open == 0, 2.0)
    finally:
        actor.stop()
        assert actor.join(10)
        client.close()
    for h in handles:
        msgs = actor.of(h)
        terms = [m for m in msgs if isinstance(m, (Error, Finish))]
        assert len(terms) == 1 and terms[0] is msgs[-1]
        assert isinstance(terms[0], Error) and isinstance(terms[0].error, StreamCancelled)
        assert terms[0].error.partial is not None
        assert terms[0].error.partial.text == "one"
