"""reader="reactor" (the default): one selector thread reads the bodies of
streams whose target never blocks; the guarantees stay the same. (CI also
runs the actor, transport and reliability tests with
STREAMACTORS_READER=thread.)"""

from __future__ import annotations

import os
import queue
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import streamactors as sa
from streamactors.testing import Fault, LoopbackServer, Script
from streamactors.transport._reactor import shared_reactor

MSGS = [{"role": "user", "content": "hi"}]
TEXT = "one two three four five six seven eight"


@pytest.fixture
def client(loopback_server: LoopbackServer) -> Iterator[sa.Client]:
    with sa.Client(base_url=loopback_server.url("openai"), api_key="k", env={},
                   reader="reactor", max_retries=0, timeout=5) as c:
        yield c


def _reactor_used() -> bool:
    return any(t.name == "streamactors-reactor" for t in threading.enumerate())


class Collect(sa.StreamingClient):
    def on_start(self) -> None:
        self.texts: dict[str, str] = {}
        self.ends: list[Any] = []

    def handle_data(self, chunk: sa.Chunk, stream: sa.StreamHandle) -> None:
        self.texts[stream.id] = self.texts.get(stream.id, "") + (chunk.text or "")

    def handle_finish(self, result: sa.StreamResult, stream: sa.StreamHandle) -> None:
        self.ends.append(result)

    def handle_error(self, error: sa.StreamError, stream: sa.StreamHandle) -> None:
        self.ends.append(error)


@pytest.mark.timeout(30)
def test_many_streams_into_one_actor(client: sa.Client, loopback_server: LoopbackServer) -> None:
    loopback_server.script = Script(text=TEXT, tokens_per_second=200)
    with Collect() as actor:
        handles = [client.chat("openai/m", MSGS, stream_to=actor) for _ in range(40)]
        results = [h.wait(20) for h in handles]
        texts = actor.ask(lambda: dict(actor.texts)).result(5)
    assert _reactor_used()
    assert all(r.text == TEXT for r in results)
    assert all(texts[h.id] == TEXT for h in handles)
    assert len(actor.ends) == 40


@pytest.mark.timeout(30)
def test_queue_and_iteration_targets(client: sa.Client, loopback_server: LoopbackServer) -> None:
    q: queue.Queue[Any] = queue.Queue()
    client.chat("openai/m", MSGS, stream_to=q).wait(10)
    items = []
    while not q.empty():
        items.append(q.get())
    assert isinstance(items[-1], sa.Finish) and items[-1].result.text == Script().text
    msgs = list(client.chat("openai/m", MSGS))
    assert isinstance(msgs[-1], sa.Finish) and sum(isinstance(m, sa.Finish) for m in msgs) == 1


@pytest.mark.timeout(30)
def test_cancel_a_stalled_read_is_prompt(
    client: sa.Client, loopback_server: LoopbackServer
) -> None:
    loopback_server.push(Script(text=TEXT, fault=Fault("stall", after=2, seconds=20)))
    q: queue.Queue[Any] = queue.Queue()
    h = client.chat("openai/m", MSGS, stream_to=q)
    first = q.get(timeout=5)
    assert isinstance(first, sa.Data)
    time.sleep(0.1)
    t0 = time.perf_counter()
    h.cancel()
    with pytest.raises(sa.StreamCancelled) as ei:
        h.wait(5)
    assert time.perf_counter() - t0 < 0.5
    assert ei.value.partial is not None and ei.value.partial.text == "one two"


@pytest.mark.timeout(30)
def test_read_timeout_and_drop(loopback_server: LoopbackServer) -> None:
    with sa.Client(base_url=loopback_server.url("openai"), api_key="k", env={},
                   reader="reactor", max_retries=0,
                   timeout=sa.Timeout(connect=2, read=0.5)) as c:
        loopback_server.push(Script(text=TEXT, fault=Fault("stall", after=3, seconds=20)))
        with pytest.raises(sa.ReadTimeout) as ei:
            list(c.chat("openai/m", MSGS))[-1].stream.wait(5)
        assert ei.value.partial is not None and ei.value.partial.text == "one two three"
        loopback_server.push(Script(text=TEXT, fault=Fault("drop", after=2)))
        with pytest.raises(sa.StreamConnectionError):
            c.chat("openai/m", MSGS, stream_to=queue.Queue()).wait(5)


@pytest.mark.timeout(30)
def test_connections_are_still_reused(client: sa.Client,
                                      loopback_server: LoopbackServer) -> None:
    for _ in range(5):
        client.chat("openai/m", MSGS, stream_to=queue.Queue()).wait(10)
    assert loopback_server.connections_total == 1


def test_reactor_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMACTORS_READER", raising=False)
    with sa.Client(env={}) as c:
        assert c._transport.reactor is not None
    monkeypatch.setenv("STREAMACTORS_READER", "thread")
    with sa.Client(env={}) as c:
        assert c._transport.reactor is None
    with sa.Client(env={}, reader="reactor") as c:  # the argument wins
        assert c._transport.reactor is not None


def test_bad_reader_is_a_configuration_error() -> None:
    with pytest.raises(sa.ConfigurationError, match="reader"):
        sa.Client(reader="fibers")


@pytest.mark.timeout(30)
def test_linger_coalesces_wake_ups_without_losing_order(
    client: sa.Client, loopback_server: LoopbackServer
) -> None:
    """With linger set (the benchmarks measure the saved switches), every
    stream still arrives whole and in order, and the default is no linger."""

    class Lingering(Collect):
        linger = 0.005

    loopback_server.script = Script(text=TEXT, tokens_per_second=400)
    with Lingering() as actor:
        handles = [client.chat("openai/m", MSGS, stream_to=actor) for _ in range(20)]
        results = [h.wait(20) for h in handles]
        texts = actor.ask(lambda: dict(actor.texts)).result(5)
    assert all(r.text == TEXT for r in results)
    assert all(texts[h.id] == TEXT for h in handles)
    assert StreamingClientDefaults.linger == 0.0


class StreamingClientDefaults(sa.StreamingClient):
    pass


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.timeout(60)
def test_a_forked_child_gets_its_own_reactor(loopback_server: LoopbackServer) -> None:
    # A server that forks workers after streaming started (a pre-loaded app):
    # the child must not register its sockets in the parent's epoll set.
    loopback_server.script = Script(text=TEXT, tokens_per_second=400)

    def one_stream() -> bool:
        with sa.Client(base_url=loopback_server.url("openai"), api_key="k", env={},
                       reader="reactor", max_retries=0, timeout=10) as c:
            q: queue.Queue[Any] = queue.Queue()
            return c.chat("openai/m", MSGS, stream_to=q).wait(20).text == TEXT

    assert one_stream() and _reactor_used()
    parent_selector = shared_reactor()._sel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        pid = os.fork()
    if pid == 0:  # the child: a fresh client, the (reset) shared reactor
        code = 1
        try:
            if shared_reactor()._sel is parent_selector:
                code = 3  # still the parent's epoll set
            else:
                code = 0 if one_stream() and _reactor_used() else 2
        finally:
            os._exit(code)
    try:
        parent_ok = all(one_stream() for _ in range(3))  # meanwhile, in the parent
    finally:
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert parent_ok
