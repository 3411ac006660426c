"""Raw HTTP answers and probes for the hostile-upstream tests.

A ``RawServer`` writes whatever bytes a test gives it. This module builds
those bytes (an OpenAI chat SSE body, chunked framing, response heads, floods,
gzip bombs), the writers that send them with their own pacing (keeping the
connection open afterwards, so that only the framing or a deadline, never an
EOF, can end the stream), a client aimed at a ``RawServer``, and the probes
the tests measure with (arrival times per stream, resident memory, traced
allocations).
"""

from __future__ import annotations

import functools
import gc
import itertools
import json
import os
import queue
import select
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import streamactors
from streamactors import Client, Data, Error, Finish, Message, StreamHandle

from . import RawServer

__all__ = [
    "CYCLE", "DONE", "FINISH", "FLOODS", "HANDOFF", "MESSAGES", "MODEL", "Arrivals", "PeakRss",
    "Writer", "answer_after", "chunk", "chunked", "content_length_surplus", "drained", "event",
    "flood", "gaps_of", "gzip_endless_line", "gzip_events", "gzipped", "head", "hold_open",
    "numbered", "percentile", "raw_client", "raw_server", "raw_url", "sse_head", "sse_response",
    "traced", "user_text", "without_gc",
]

#: The model every RawServer test streams from (an OpenAI chat wire format).
MODEL = "openai/m"
MESSAGES = [{"role": "user", "content": "hi"}]

FINISH = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
DONE = b"data: [DONE]\n\n"
#: A pause after the head that lets the client hand the body to its reader
#: before the hostile bytes come (sent with the head, they would be framed
#: on the worker thread, never by the reactor).
HANDOFF = 0.05


# -- bytes -------------------------------------------------------------------------------


def event(text: str) -> bytes:
    """One OpenAI chat SSE event carrying ``text``."""
    delta = json.dumps({"choices": [{"index": 0, "delta": {"content": text},
                                     "finish_reason": None}]})
    return b"data: " + delta.encode() + b"\n\n"


def chunk(data: bytes) -> bytes:
    """``data`` as one HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def chunked(pieces: Iterable[bytes]) -> bytes:
    """A whole chunked body: one chunk per piece, then the last chunk."""
    return b"".join(chunk(p) for p in pieces if p) + b"0\r\n\r\n"


def head(status: int = 200, reason: str = "OK", headers: Sequence[tuple[str, str]] = ()) -> bytes:
    """A response head (status line, headers, blank line)."""
    lines = [f"HTTP/1.1 {status} {reason}".encode()]
    lines += [f"{k}: {v}".encode("latin-1") for k, v in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def sse_head(*extra: tuple[str, str]) -> bytes:
    """The head of a chunked ``text/event-stream`` 200."""
    return head(200, "OK", [("Content-Type", "text/event-stream"),
                            ("Transfer-Encoding", "chunked"), *extra])


def sse_response(tokens: Sequence[str]) -> bytes:
    """A complete chunked OpenAI chat stream of ``tokens``, finish and [DONE]."""
    return sse_head() + chunked([*(event(t) for t in tokens), FINISH, DONE])


#: 64 KiB chunks of SSE comment lines, and 7-byte chunks each holding one
#: empty comment line: valid framing, valid SSE, never a chunk of content.
FLOODS = {
    "comment-lines": chunk((b": " + b"x" * 125 + b"\n") * 512),
    "tiny-chunks": chunk(b":\n") * 10_000,
}


@functools.cache
def gzip_endless_line() -> bytes:
    """About 1 MB of gzip inflating to one line of about 1 GB (no newline).

    Each MiB of ``x`` is compressed after a full flush, so every one
    compresses to the same bytes: one is compressed, then repeated."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    start = z.compress(b"data: ") + z.flush(zlib.Z_FULL_FLUSH)
    block = z.compress(b"x" * (1 << 20)) + z.flush(zlib.Z_FULL_FLUSH)
    return start + block * (1_000_000 // len(block))


#: The tokens of ``gzip_events``, in a cycle.
CYCLE = [f"{i} " for i in range(256)]


@functools.cache
def gzip_events() -> bytes:
    """About 2 MB of gzip inflating to about 165 MB of valid events (some
    two million; the ratio the issue measured): about 1 MiB of events
    (``CYCLE`` over and over) compressed once after a full flush, so that it
    compresses to the same bytes each time, then repeated."""
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    start = z.flush(zlib.Z_FULL_FLUSH)
    block = z.compress(b"".join(event(t) for t in CYCLE) * 48) + z.flush(zlib.Z_FULL_FLUSH)
    return start + block * (2_000_000 // len(block))


def content_length_surplus() -> bytes:
    """A whole ``Content-Length`` answer with bytes beyond its length, to be
    sent in one write (so that they arrive in the read that ends the body)."""
    body = event("hello") + FINISH + DONE
    return head(200, "OK", [("Content-Type", "text/event-stream"),
                            ("Content-Length", str(len(body)))]) + body + b"SURPLUS BYTES"


def user_text(request: bytes) -> str:
    """The content of the last message of a chat request (its JSON body).

    Only the first JSON value is read: two processes writing on one shared
    socket leave a second request's bytes after it."""
    body = request.partition(b"\r\n\r\n")[2].decode("utf-8", "replace")
    value, _ = json.JSONDecoder().raw_decode(body)
    content: str = value["messages"][-1]["content"]
    return content


# -- servers and writers -------------------------------------------------------------

Writer = Callable[[socket.socket, bytes, RawServer], None]


def raw_server(write: Writer) -> RawServer:
    """A ``RawServer`` whose every request is answered by
    ``write(conn, request, server)`` (which may pace itself and should end
    once ``server.stopped``)."""
    box: list[RawServer] = []

    def handle(conn: socket.socket, request: bytes) -> None:
        write(conn, request, box[0])

    server = RawServer(handle=handle)
    box.append(server)
    return server


def hold_open(conn: socket.socket, server: RawServer) -> None:
    """Keep ``conn`` open, sending nothing, until the client closes it or the
    server stops."""
    while not server.stopped:
        if select.select([conn], [], [], 0.05)[0]:
            try:
                if not conn.recv(65536):
                    return
            except OSError:
                return


def answer_after(before: bytes) -> Writer:
    """Write ``before`` at once, then hold the connection open."""
    def write(conn: socket.socket, request: bytes, server: RawServer) -> None:
        conn.sendall(before)
        hold_open(conn, server)
    return write


def flood(block: bytes) -> Writer:
    """A stream head, then ``block`` over and over, as fast as the client
    reads, until it leaves or the server stops."""
    def write(conn: socket.socket, request: bytes, server: RawServer) -> None:
        conn.sendall(sse_head())
        time.sleep(HANDOFF)
        while not server.stopped:
            conn.sendall(block)  # OSError once the client closed: the handler ends
    return write


def gzipped(data: bytes) -> Writer:
    """A gzip-encoded stream head, ``data`` in 64 KiB chunks, then silence."""
    def write(conn: socket.socket, request: bytes, server: RawServer) -> None:
        conn.sendall(sse_head(("Content-Encoding", "gzip")))
        time.sleep(HANDOFF)
        for i in range(0, len(data), 65536):
            if server.stopped:
                return
            conn.sendall(chunk(data[i : i + 65536]))
        hold_open(conn, server)
    return write


def numbered(spoof: str) -> tuple[Writer, list[socket.socket]]:
    """Answer request k with the text "answer k"; after the first answer send
    a whole second response, "SPOOFED", in the same write ("same-write"),
    50 ms later ("later"), or not at all ("none"). Also returns the list of
    distinct connections the requests came on."""
    conns: list[socket.socket] = []
    lock = threading.Lock()

    def write(conn: socket.socket, request: bytes, server: RawServer) -> None:
        with lock:
            if not any(c is conn for c in conns):
                conns.append(conn)
            number = len(server.requests)
        answer = sse_response([f"answer {number}"])
        spoofed = sse_response(["SPOOFED"])
        if number == 1 and spoof == "same-write":
            conn.sendall(answer + spoofed)
        elif number == 1 and spoof == "later":
            conn.sendall(answer)
            time.sleep(0.05)
            conn.sendall(spoofed)
        else:
            conn.sendall(answer)

    return write, conns


def raw_url(raw: RawServer) -> str:
    """The OpenAI base URL of ``raw``."""
    return raw.base_url + "/v1"


def raw_client(raw: RawServer | None, reader: str, **kwargs: Any) -> Client:
    """A client of ``raw`` (or of no default server) with the given reader."""
    kwargs.setdefault("timeout", streamactors.Timeout(connect=2.0, read=5.0))
    return Client(base_url=raw_url(raw) if raw is not None else None, api_key="sk-test",
                  trust_env=False, reader=reader, **kwargs)


# -- probes ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` (nearest rank; 0 for none)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def gaps_of(times: Sequence[float]) -> list[float]:
    """The gaps between consecutive arrival times."""
    return [b - a for a, b in itertools.pairwise(times)]


class Arrivals:
    """An unbounded ``queue.Queue`` target (so the reactor may read the
    streams delivering to it) with a thread that takes each message at once
    and notes when it came: per stream, the arrival times of its ``Data`` and
    its terminal message."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Message | None] = queue.Queue()
        self.times: dict[StreamHandle, list[float]] = {}
        self.terminals: dict[StreamHandle, Error | Finish] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._take, name="arrivals", daemon=True)
        self._thread.start()

    def _take(self) -> None:
        while True:
            m = self.queue.get()
            if m is None:
                return
            t = time.monotonic()
            with self._lock:
                if isinstance(m, Data):
                    self.times.setdefault(m.stream, []).append(t)
                else:
                    self.terminals[m.stream] = m

    def started(self, handles: Iterable[StreamHandle]) -> bool:
        """True once every one of ``handles`` delivered a chunk."""
        with self._lock:
            return all(h in self.times for h in handles)

    def ended(self, handles: Iterable[StreamHandle]) -> bool:
        """True once every one of ``handles`` delivered its terminal message."""
        with self._lock:
            return all(h in self.terminals for h in handles)

    def gaps(self, handles: Iterable[StreamHandle]) -> list[float]:
        """Every gap between consecutive chunks of each of ``handles``."""
        with self._lock:
            return [g for h in handles for g in gaps_of(self.times.get(h, []))]

    def __enter__(self) -> Arrivals:
        return self

    def __exit__(self, *exc: object) -> None:
        self.queue.put(None)
        self._thread.join(2.0)


@contextmanager
def drained() -> Iterator[queue.Queue[Message]]:
    """An unbounded queue (the reactor may read streams into it) that a
    thread empties as fast as it can, throwing the messages away."""
    q: queue.Queue[Message] = queue.Queue()
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            try:
                q.get(timeout=0.02)
            except queue.Empty:
                pass

    thread = threading.Thread(target=drain, name="drain", daemon=True)
    thread.start()
    try:
        yield q
    finally:
        stop.set()
        thread.join(2.0)


@contextmanager
def without_gc() -> Iterator[None]:
    """No cyclic GC while latencies are measured: a full collection (50 to
    90 ms once earlier tests left many objects) pauses every thread at once,
    which would show in the p99 of whichever run it hit, not the reactor's."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@contextmanager
def traced() -> Iterator[list[int]]:
    """Trace Python allocations in the block; yields ``[peak bytes]``, set
    at exit."""
    peak = [0]
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak[0] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def _rss() -> int:
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """Samples this process's resident memory every few milliseconds while
    the block runs; ``growth`` is the peak minus the value at entry. Covers
    what tracemalloc cannot see (buffers of C libraries)."""

    def __init__(self, every: float = 0.002) -> None:
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self.start = 0
        self.peak = 0

    @property
    def growth(self) -> int:
        return self.peak - self.start

    def _sample(self) -> None:
        while not self._stop.wait(self._every):
            self.peak = max(self.peak, _rss())

    def __enter__(self) -> PeakRss:
        self.start = self.peak = _rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(1.0)
        self.peak = max(self.peak, _rss())
