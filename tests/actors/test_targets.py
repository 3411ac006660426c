"""Guarantees 1, 2, 3 and 6 of DESIGN.md for every kind of target, over a
real loopback socket: order kept, exactly one terminal message (also when the
server drops the connection mid-stream or answers an error), partial text kept
in the error, no worker thread alive afterwards."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import streamactors as sa
from streamactors.testing import Fault, LoopbackServer, Script
from streamactors.testing._script import split_tokens

MSGS = [{"role": "user", "content": "hi"}]
TEXT = "one two three four five six seven eight nine ten eleven twelve"
TOKENS = split_tokens(TEXT)


class Recorder(sa.StreamingClient):
    def on_start(self) -> None:
        self.messages: list[Any] = []
        self.active = 0
        self.overlap = False
        self.threads: set[int] = set()

    def _enter(self) -> None:
        self.active += 1
        if self.active > 1:
            self.overlap = True
        self.threads.add(threading.get_ident())
        time.sleep(0)  # invite a thread switch: overlap would show

    def handle_data(self, chunk: sa.Chunk, stream: sa.StreamHandle) -> None:
        self._enter()
        self.messages.append(sa.Data(stream, chunk))
        self.active -= 1

    def handle_error(self, error: sa.StreamError, stream: sa.StreamHandle) -> None:
        self._enter()
        self.messages.append(sa.Error(stream, error))
        self.active -= 1

    def handle_finish(self, result: sa.StreamResult, stream: sa.StreamHandle) -> None:
        self._enter()
        self.messages.append(sa.Finish(stream, result))
        self.active -= 1


def _run_handler(kw: dict[str, Any], bounded: bool) -> list[Any]:
    with Recorder(mailbox_size=2 if bounded else 0) as rec:
        h = sa.chat("openai/demo", MSGS, stream_to=rec, **kw)
        _wait_quietly(h)
    assert not rec.overlap
    assert rec.threads and threading.get_ident() not in rec.threads
    return rec.messages


def _run_queue(kw: dict[str, Any], bounded: bool) -> list[Any]:
    q: queue.Queue[Any] = queue.Queue(maxsize=1 if bounded else 0)
    h = sa.chat("openai/demo", MSGS, stream_to=q, **kw)
    out = []
    while True:
        m = q.get(timeout=10)
        out.append(m)
        if not isinstance(m, sa.Data):
            break
    _wait_quietly(h)
    time.sleep(0.05)
    assert q.empty(), "nothing may follow the terminal message"
    return out


def _run_callable(kw: dict[str, Any], bounded: bool) -> list[Any]:
    out: list[Any] = []
    h = sa.chat("openai/demo", MSGS, stream_to=out.append, **kw)
    _wait_quietly(h)
    return out


def _run_none(kw: dict[str, Any], bounded: bool) -> list[Any]:
    return list(sa.chat("openai/demo", MSGS, **kw))


def _run_asyncio(kw: dict[str, Any], bounded: bool) -> list[Any]:
    async def main() -> list[Any]:
        out: list[Any] = []
        it = sa.astream("openai/demo", MSGS, **kw)
        try:
            async for chunk in it:
                assert it.handle is not None
                out.append(sa.Data(it.handle, chunk))
        except sa.StreamError as exc:
            assert it.handle is not None
            out.append(sa.Error(it.handle, exc))
        else:
            assert it.handle is not None and it.handle.result is not None
            out.append(sa.Finish(it.handle, it.handle.result))
        return out

    return asyncio.run(main())


def _wait_quietly(h: sa.StreamHandle) -> None:
    try:
        h.wait(10)
    except sa.StreamError:
        pass


TARGETS: dict[str, Callable[[dict[str, Any], bool], list[Any]]] = {
    "handler": _run_handler,
    "queue": _run_queue,
    "callable": _run_callable,
    "handle-iteration": _run_none,
    "asyncio": _run_asyncio,
}


def _texts(messages: list[Any]) -> list[str]:
    return [m.chunk.text for m in messages if isinstance(m, sa.Data) and m.chunk.text]


def _check_one_terminal(messages: list[Any]) -> Any:
    terminals = [m for m in messages if not isinstance(m, sa.Data)]
    assert len(terminals) == 1, terminals
    assert messages[-1] is terminals[0], "the terminal message must be the last one"
    return terminals[0]


@pytest.fixture(scope="module")
def server() -> Any:
    with LoopbackServer() as srv:
        yield srv


def _kw(server: LoopbackServer, script: Script) -> dict[str, Any]:
    server.push(script)
    return {"base_url": server.url("openai"), "api_key": "sk-test", "max_retries": 0,
            "timeout": 5}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("bounded", [False, True], ids=["unbounded", "bounded"])
@pytest.mark.parametrize("target", list(TARGETS))
def test_complete_stream(server: LoopbackServer, target: str, bounded: bool) -> None:
    messages = TARGETS[target](_kw(server, Script(text=TEXT, tokens=TOKENS)), bounded)
    term = _check_one_terminal(messages)
    assert isinstance(term, sa.Finish)
    assert _texts(messages) == TOKENS  # order kept, nothing lost, nothing twice
    assert term.result.text == TEXT
    assert term.result.finish_reason == "stop"
    assert all(m.stream is term.stream for m in messages)
    assert term.stream.done()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("bounded", [False, True], ids=["unbounded", "bounded"])
@pytest.mark.parametrize("target", list(TARGETS))
def test_dropped_connection(server: LoopbackServer, target: str, bounded: bool) -> None:
    script = Script(text=TEXT, tokens=TOKENS, fault=Fault("drop", after=5))
    messages = TARGETS[target](_kw(server, script), bounded)
    term = _check_one_terminal(messages)
    assert isinstance(term, sa.Error)
    assert isinstance(term.error, (sa.StreamConnectionError, sa.IncompleteStream))
    delivered = _texts(messages)
    assert delivered == TOKENS[: len(delivered)] and delivered
    assert term.error.partial is not None
    assert term.error.partial.text == "".join(delivered)
    assert term.error.partial.finish_reason is None


@pytest.mark.timeout(30)
@pytest.mark.parametrize("target", list(TARGETS))
def test_http_error_before_data(server: LoopbackServer, target: str) -> None:
    script = Script(fault=Fault("http_error", status=404, message="model not here"))
    messages = TARGETS[target](_kw(server, script), False)
    term = _check_one_terminal(messages)
    assert isinstance(term, sa.Error) and isinstance(term.error, sa.NotFoundError)
    assert term.error.provider_message == "model not here"
    assert term.error.partial is not None and term.error.partial.chunks == 0
    assert len(messages) == 1


@pytest.mark.timeout(30)
@pytest.mark.parametrize("target", list(TARGETS))
def test_in_band_error(server: LoopbackServer, target: str) -> None:
    script = Script(text=TEXT, tokens=TOKENS, fault=Fault("error_event", after=3))
    messages = TARGETS[target](_kw(server, script), False)
    term = _check_one_terminal(messages)
    assert isinstance(term, sa.Error) and isinstance(term.error, sa.ProviderError)
    assert _texts(messages) == TOKENS[:3]
    assert term.error.partial is not None and term.error.partial.text == "".join(TOKENS[:3])


@pytest.mark.timeout(30)
def test_one_actor_many_streams(server: LoopbackServer) -> None:
    """Many streams into one actor: each stream's own order kept, handler
    methods never concurrent, one terminal per stream."""
    with Recorder() as rec:
        server.script = Script(text=TEXT, tokens=TOKENS, tokens_per_second=400)
        try:
            handles = [
                sa.chat("openai/demo", MSGS, stream_to=rec, base_url=server.url("openai"),
                        api_key="k")
                for _ in range(12)
            ]
            results = [h.wait(20) for h in handles]
        finally:
            server.script = Script()
    assert not rec.overlap
    assert all(r.text == TEXT for r in results)
    for h in handles:
        mine = [m for m in rec.messages if m.stream is h]
        assert _texts(mine) == TOKENS
        _check_one_terminal(mine)
