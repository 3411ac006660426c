"""Reliability tests: the eight guarantees of DESIGN.md under faults.

This package module holds the helpers the test modules share (targets that
record what a stream delivered, leak probes); fixtures live in
``conftest.py``. Test modules import these with ``from . import ...``.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from unittest import mock

import streamactors
import streamactors.actors._aio
import streamactors.api
from streamactors import (
    Chunk,
    Client,
    Data,
    Error,
    Finish,
    Message,
    StreamError,
    StreamHandle,
    StreamingClient,
    StreamResult,
)
from streamactors.testing import LoopbackServer

__all__ = [
    "MESSAGES",
    "MODELS",
    "TARGETS",
    "Outcome",
    "RawServer",
    "Recorder",
    "Target",
    "assert_no_leaks",
    "blackhole",
    "chat_kwargs",
    "leak_guard",
    "make_client",
    "open_fds",
    "run_stream",
    "stream_threads",
    "wait_until",
]

Target = Literal["actor", "queue", "callable", "astream", "iterate"]
#: Every kind of target a stream can deliver to.
TARGETS: tuple[Target, ...] = ("actor", "queue", "callable", "astream", "iterate")

MESSAGES = [{"role": "user", "content": "hi"}]
#: A model name per loopback provider prefix.
MODELS = {
    "openai": "openai/test-model",
    "openai-responses": "openai/test-model",
    "anthropic": "anthropic/test-model",
    "gemini": "gemini/test-model",
    "ollama": "ollama/test-model",
    "mistral": "mistral/test-model",
    "openrouter": "openrouter/test-model",
}


def wait_until(predicate: Callable[[], bool], timeout: float = 2.0, step: float = 0.005) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def stream_threads() -> list[threading.Thread]:
    """Worker threads still alive (they are named ``streamactors-stream-N``)."""
    return [t for t in threading.enumerate() if t.name.startswith("streamactors-stream-")]


def open_fds() -> int:
    """File descriptors open in this process (sockets included)."""
    return len(os.listdir("/proc/self/fd"))


class _Server(Protocol):
    def url(self, provider: str) -> str: ...


def make_client(server: _Server, provider: str = "openai", **kwargs: Any) -> Client:
    """A ``Client`` aimed at ``server`` for ``provider``, with a short timeout."""
    kwargs.setdefault("timeout", streamactors.Timeout(connect=2.0, read=2.0))
    kwargs.setdefault("api_key", "sk-test-key-0000")
    kwargs.setdefault("trust_env", False)
    return Client(base_url=server.url(provider), **kwargs)


def chat_kwargs(provider: str) -> dict[str, Any]:
    """Extra ``chat()`` arguments a provider prefix needs."""
    return {"api": "responses"} if provider == "openai-responses" else {}


def blackhole() -> tuple[socket.socket, list[socket.socket]]:
    """A loopback listener that never accepts, its backlog already full: the
    kernel drops further SYNs, so a connect to it hangs in SYN_SENT, as one
    to a non-routable address would, without leaving loopback. Close the
    returned sockets when done."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(listener.getsockname())
        except BlockingIOError:
            pass
        fillers.append(s)
    time.sleep(0.05)
    return listener, fillers


def assert_no_leaks(server: LoopbackServer | None, fds_before: int, timeout: float = 2.0) -> None:
    """No worker thread alive, no connection open at the server, fds back to
    ``fds_before`` (close the clients first: their pools hold sockets)."""
    assert wait_until(lambda: not stream_threads(), timeout), stream_threads()
    if server is not None:
        assert wait_until(lambda: server.connections_open == 0, timeout), (
            f"{server.connections_open} connections still open at the server"
        )
    assert wait_until(lambda: open_fds() <= fds_before, timeout), (
        f"{open_fds() - fds_before} file descriptors leaked"
    )


@contextmanager
def leak_guard(server: LoopbackServer | None = None) -> Iterator[None]:
    """Check on exit that the block left no thread, connection or fd behind."""
    before = open_fds()
    yield
    assert_no_leaks(server, before)


# -- targets ---------------------------------------------------------------------------


class Recorder(StreamingClient):
    """A handler that records every message, per stream, in arrival order."""

    def __init__(self, *, mailbox_size: int = 0, delay: float = 0.0) -> None:
        super().__init__(mailbox_size=mailbox_size)
        self.messages: list[Message] = []
        self.failures: list[tuple[BaseException, Message | None]] = []
        self.delay = delay
        self.threads: set[str] = set()

    def handle_data(self, chunk: Chunk, stream: StreamHandle) -> None:
        self.threads.add(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)
        self.messages.append(Data(stream, chunk))

    def handle_error(self, error: StreamError, stream: StreamHandle) -> None:
        self.messages.append(Error(stream, error))

    def handle_finish(self, result: StreamResult, stream: StreamHandle) -> None:
        self.messages.append(Finish(stream, result))

    def on_failure(self, exc: BaseException, message: Message | None) -> None:
        self.failures.append((exc, message))

    def of(self, handle: StreamHandle) -> list[Message]:
        """The messages of one stream."""
        return [m for m in self.messages if m.stream is handle]


@dataclass
class Outcome:
    """What one stream delivered to its target.

    Attributes:
        chunks: the ``Data`` chunks, in the order the target saw them.
        terminals: every terminal seen (an exception raised by an iterator
            counts as an ``Error``; a normal end of iteration as a ``Finish``).
        after_terminal: messages that reached the target after the first
            terminal (must be 0).
        handle: the stream's handle.
    """

    chunks: list[Chunk] = field(default_factory=list)
    terminals: list[Error | Finish] = field(default_factory=list)
    after_terminal: int = 0
    handle: StreamHandle | None = None

    @property
    def texts(self) -> list[str]:
        """The non-empty texts of the delivered chunks."""
        return [c.text for c in self.chunks if c.text]

    @property
    def error(self) -> StreamError:
        (term,) = self.terminals
        assert isinstance(term, Error), f"expected an Error, got {term!r}"
        return term.error

    @property
    def result(self) -> StreamResult:
        (term,) = self.terminals
        assert isinstance(term, Finish), f"expected a Finish, got {term!r}"
        return term.result


def _record(out: Outcome, messages: list[Message]) -> None:
    for m in messages:
        if out.terminals:
            out.after_terminal += 1
        if isinstance(m, Data):
            out.chunks.append(m.chunk)
        else:
            out.terminals.append(m)


def _drain_queue(q: queue.Queue[Any], out: Outcome, limit: float) -> None:
    got: list[Message] = []
    deadline = time.monotonic() + limit
    while True:
        item = q.get(timeout=max(0.01, deadline - time.monotonic()))
        got.append(item)
        if isinstance(item, (Error, Finish)):
            break
    _record(out, got)


def run_stream(
    client: Client,
    model: str,
    target: Target,
    *,
    bounded: bool = False,
    limit: float = 10.0,
    **kwargs: Any,
) -> Outcome:
    """Run one stream to its end through ``target`` and report what arrived.

    ``bounded`` makes the target as small as it can be (a mailbox, queue or
    buffer of one), so the worker waits for the consumer at every chunk.
    Returns once the worker thread has exited.
    """
    out = Outcome()
    runner = _RUNNERS.get(target)
    if runner is None:  # pragma: no cover
        raise ValueError(target)
    runner(client, model, out, bounded, limit, kwargs)
    return out


_Runner = Callable[[Client, str, Outcome, bool, float, dict[str, Any]], None]


def _via_actor(client: Client, model: str, out: Outcome, bounded: bool, limit: float,
               kwargs: dict[str, Any]) -> None:
    actor = Recorder(mailbox_size=1 if bounded else 0).start()
    try:
        out.handle = client.chat(model, MESSAGES, stream_to=actor, **kwargs)
        _wait_handle(out.handle, limit)
    finally:
        actor.stop()
        assert actor.join(limit), "the actor thread did not end"
    _record(out, actor.of(out.handle))


def _via_queue(client: Client, model: str, out: Outcome, bounded: bool, limit: float,
               kwargs: dict[str, Any]) -> None:
    q: queue.Queue[Any] = queue.Queue(maxsize=1 if bounded else 0)
    out.handle = client.chat(model, MESSAGES, stream_to=q, **kwargs)
    _drain_queue(q, out, limit)
    _wait_handle(out.handle, limit)
    out.after_terminal += q.qsize()


def _via_callable(client: Client, model: str, out: Outcome, bounded: bool, limit: float,
                  kwargs: dict[str, Any]) -> None:
    if not bounded:
        seen: list[Message] = []
        out.handle = client.chat(model, MESSAGES, stream_to=seen.append, **kwargs)
        _wait_handle(out.handle, limit)
        _record(out, seen)
        return
    bq: queue.Queue[Any] = queue.Queue(maxsize=1)
    reader = threading.Thread(target=_drain_queue, args=(bq, out, limit))
    reader.start()
    out.handle = client.chat(model, MESSAGES, stream_to=bq.put, **kwargs)
    reader.join(limit)
    _wait_handle(out.handle, limit)
    out.after_terminal += bq.qsize()


def _via_iterate(client: Client, model: str, out: Outcome, bounded: bool, limit: float,
                 kwargs: dict[str, Any]) -> None:
    if not bounded:
        out.handle = client.chat(model, MESSAGES, **kwargs)
        _record(out, list(out.handle))
        _wait_handle(out.handle, limit)
        return
    with mock.patch.object(streamactors.api, "STREAM_BUFFER", 1):
        chunks = client.stream(model, MESSAGES, **kwargs)
    out.handle = chunks.handle
    try:
        for c in chunks:
            out.chunks.append(c)
    except StreamError as exc:
        out.terminals.append(Error(out.handle, exc))
    else:
        assert chunks.result is not None
        out.terminals.append(Finish(out.handle, chunks.result))
    _wait_handle(out.handle, limit)


def _wait_handle(handle: StreamHandle, limit: float) -> None:
    try:
        handle.wait(limit)
    except StreamError:
        pass
    thread = handle._thread
    if thread is not None:
        thread.join(limit)
        assert not thread.is_alive(), f"{handle.id}: worker thread still alive"


def _run_async(
    client: Client, model: str, out: Outcome, bounded: bool, limit: float, kwargs: dict[str, Any]
) -> None:
    async def consume() -> None:
        it = client.astream(model, MESSAGES, **kwargs)
        try:
            async for c in it:
                out.chunks.append(c)
        except StreamError as exc:
            out.handle = getattr(it, "handle", None)
            assert out.handle is not None
            out.terminals.append(Error(out.handle, exc))
        else:
            out.handle = getattr(it, "handle", None)
            assert out.handle is not None and out.handle.result is not None
            out.terminals.append(Finish(out.handle, out.handle.result))

    async def bounded_consume() -> None:
        await asyncio.wait_for(consume(), limit)

    if bounded:
        with mock.patch.object(streamactors.actors._aio, "MAX_CHUNKS", 1):
            asyncio.run(bounded_consume())
    else:
        asyncio.run(bounded_consume())
    assert out.handle is not None
    _wait_handle(out.handle, limit)


# -- a raw HTTP server for what the loopback server does not script ---------------------


class RawServer:
    """A tiny HTTP/1.1 server on loopback: every request read (head and
    Content-Length body) is recorded and answered with ``respond(request)``,
    raw bytes out. For answers the loopback server does not script (a 307, a
    ``retry-after-ms`` header). ``connections_open`` counts live sockets.
    """

    def __init__(self, respond: Callable[[bytes], bytes] | None = None, *,
                 handle: Callable[[socket.socket, bytes], None] | None = None) -> None:
        """``respond(request) -> bytes`` answers each request at once;
        ``handle(conn, request)`` instead writes to the connection itself,
        paced as it likes (it may return to keep the connection alive or
        raise ``OSError``/close it)."""
        self._respond = respond
        self._handle_request = handle
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self.requests: list[bytes] = []
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        self._accept = threading.Thread(target=self._serve, name="raw-server", daemon=True)
        self._accept.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, provider: str) -> str:
        """The base URL a client of ``provider`` takes (as ``LoopbackServer.url``)."""
        native = provider in ("anthropic", "gemini", "ollama")
        return self.base_url if native else self.base_url + "/v1"

    @property
    def connections_open(self) -> int:
        with self._lock:
            return len(self._conns)

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._conns.add(conn)
            t = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            while True:
                data = b""
                while b"\r\n\r\n" not in data:
                    part = conn.recv(65536)
                    if not part:
                        return
                    data += part
                head, _, body = data.partition(b"\r\n\r\n")
                match = re.search(rb"(?i)content-length:\s*(\d+)", head)
                length = int(match.group(1)) if match else 0
                while len(body) < length:
                    part = conn.recv(65536)
                    if not part:
                        return
                    body += part
                request = head + b"\r\n\r\n" + body
                with self._lock:
                    self.requests.append(request)
                if self._handle_request is not None:
                    self._handle_request(conn, request)
                elif self._respond is not None:
                    conn.sendall(self._respond(request))
        except OSError:
            pass
        finally:
            conn.close()
            with self._lock:
                self._conns.discard(conn)

    @property
    def stopped(self) -> bool:
        """True once ``stop()`` was called (a pacing handler should end)."""
        return self._stopped.is_set()

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(1.0)

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_RUNNERS: dict[str, _Runner] = {
    "actor": _via_actor,
    "queue": _via_queue,
    "callable": _via_callable,
    "astream": _run_async,
    "iterate": _via_iterate,
}
