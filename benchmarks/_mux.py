"""Prototypes for S2: every stream's body read by ONE selector thread.

A thread per stream pays one thread wake-up per chunk when chunks are paced
(each arrives alone), and on these machines a wake-up costs tens of
microseconds of CPU -- more than decoding the chunk. These prototypes answer
"what would multiplexing the reads save?" with numbers, on the same server:

* ``floor-mux``: the floor's parsing, all sockets on one ``selectors`` loop;
* ``library-mux``: streamactors' own sans-I/O pipeline (de-chunker, SSE
  decoder, OpenAI codec, accumulator) per stream, driven by one selector
  thread, delivering batches to a ``StreamingClient`` exactly as the library's
  workers do (``deliver`` + ``terminal``). It is what a "reactor" transport
  for the library would cost; it is not the library (no retries, timeouts,
  TLS, proxies), so read it as a bound, not a result.

Connections are opened and requests sent by the calling thread; only the
bodies are multiplexed (as a library would do after the response headers).
"""

from __future__ import annotations

import json
import selectors
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

from ._measure import Histogram
from ._peers import Floor

__all__ = ["run_mux"]


class _FloorState:
    __slots__ = ("buf", "count", "done", "hist", "sock")

    def __init__(self, sock: socket.socket, hist: Histogram) -> None:
        self.sock = sock
        self.buf = b""
        self.count = 0
        self.done = False
        self.hist = hist

    def feed(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        if b"\n\n" in buf:
            events = buf.split(b"\n\n")
            buf = events.pop()
            add = self.hist.add
            loads = json.loads
            for ev in events:
                at = ev.find(b"data: ")
                if at < 0 or ev[at + 6 : at + 7] == b"[":
                    continue
                add(loads(ev[at + 6 :])["t"])
                self.count += 1
            self.done = buf.endswith(b"\r\n0\r\n\r\n")
        self.buf = buf


class _LibraryState:
    """One stream through the library's sans-I/O layers, into an actor."""

    __slots__ = ("acc", "actor", "count", "dechunker", "done", "feed", "frame", "handle",
                 "head", "sock")

    def __init__(self, sock: socket.socket, actor: Any) -> None:
        from streamactors import Accumulator, StreamHandle
        from streamactors._wire._chunked import Dechunker as _Dechunker
        from streamactors.actors._client import mailbox_of
        from streamactors.providers.openai_chat import OpenAIChatDecoder
        from streamactors.sse import SSEDecoder

        self.sock = sock
        self.actor = mailbox_of(actor)  # the actor's sink, as the library's workers use it
        self.handle = StreamHandle("openai/bench")
        self.actor.open(self.handle)
        self.head = b""  # bytes until the end of the response headers
        self.dechunker = _Dechunker()
        self.frame = SSEDecoder().feed
        self.feed = OpenAIChatDecoder("openai").feed
        self.acc = Accumulator("openai", "bench")
        self.count = 0
        self.done = False

    def feed_bytes(self, data: bytes) -> None:
        if self.head is not None:
            data = self.head + data
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.head = data
                return
            self.head = None  # type: ignore[assignment]
            data = data[end + 4 :]
        payload = self.dechunker.feed(data)
        batch = []
        add = self.acc.add
        feed = self.feed
        for ev in self.frame(payload) if payload else ():
            for c in feed(ev.data, ev.event):
                add(c)
                batch.append(c)
        if batch:
            self.count += len(batch)
            self.actor.deliver(self.handle, batch)
        if self.dechunker.done:
            from streamactors import Finish

            self.done = True
            self.actor.terminal(Finish(self.handle, self.acc.result()))


# The prototype readers' loop is inlined on purpose, as the floor's: it
# measures what one selector loop costs, without helper calls.
def run_mux(kind: str, url: str, model: str, streams: int, hist: Histogram,  # noqa: C901
            actor: Any, budget: float) -> dict[str, Any]:
    """Open ``streams`` streams and read them all on one selector thread."""
    import time

    parts = urlsplit(url)
    addr = (parts.hostname or "127.0.0.1", parts.port or 80)
    proto = Floor()
    proto.open(url)
    request = proto._request(model)
    sel = selectors.DefaultSelector()
    states: list[Any] = []
    t0 = time.monotonic()
    for _ in range(streams):
        sock = socket.create_connection(addr)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(request)
        sock.setblocking(False)
        st: Any = _FloorState(sock, hist) if kind == "floor-mux" else _LibraryState(sock, actor)
        states.append(st)
    ramp = time.monotonic() - t0
    error: list[BaseException] = []

    def loop() -> None:
        try:
            for st in states:
                sel.register(st.sock, selectors.EVENT_READ, st)
            live = len(states)
            deadline = t0 + budget
            while live and time.monotonic() < deadline:
                for key, _ in sel.select(0.1):
                    st = key.data
                    try:
                        data = st.sock.recv(65536)
                    except BlockingIOError:
                        continue
                    if not data:
                        raise ConnectionError("server closed a stream early")
                    if kind == "floor-mux":
                        st.feed(data)
                    else:
                        st.feed_bytes(data)
                    if st.done:
                        sel.unregister(st.sock)
                        live -= 1
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=loop, name="mux")
    thread.start()
    thread.join()
    for st in states:
        st.sock.close()
    if actor is not None:
        actor.wait_streams(sum(1 for s in states if s.done), 30)
    return {"ramp_s": round(ramp, 2), "delivered": sum(s.count for s in states),
            "timed_out": any(not s.done for s in states), "errors": len(error),
            "first_error": repr(error[0])[:200] if error else None}
