"""S4: cancel a stream whose reader is blocked in a socket read.

The server sends three events, then nothing, holding the connection open. Once
the reader has the three events and sits in ``recv``, another thread cancels;
we time how long until the reader is released (for streamactors: until the
stream's ``Error`` reached the handler, i.e. the worker let go, closed the
socket and delivered its terminal message).

* ``handler``: streamactors, ``handle.cancel()``.
* ``floor``: ``socket.shutdown(SHUT_RDWR)`` from the other thread.
* ``requests``: ``Response.close()`` from the other thread, as users try; it
  does not wake the reader, which waits for its read timeout (1 s here).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from ._peers import MESSAGES, Floor, Requests
from ._server import model_spec

__all__ = ["measure"]

_MODEL = model_spec(100, stall=3)
_SETTLE = 0.02  # after the third event, let the reader enter recv


def measure(name: str, url: str, reps: int) -> list[float]:
    """Milliseconds from the cancel call to the reader's release, per rep."""
    fn = {"handler": _library, "floor": _floor, "requests": _requests}.get(name)
    if fn is None:
        raise SystemExit(f"S4 has no target {name!r}")
    return fn(url, reps)


def _wait_for(pred: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError("the stalled stream never delivered its first events")
        time.sleep(0.0005)


def _library(url: str, reps: int) -> list[float]:
    from ._library import BenchActor, make_client

    client = make_client(url)
    actor = BenchActor(None).start()
    out = []
    for _ in range(reps):
        actor.count = 0
        done = actor.finished
        handle = client.chat("openai/" + _MODEL, MESSAGES, stream_to=actor)
        _wait_for(lambda: actor.count >= 3)
        time.sleep(_SETTLE)
        t0 = time.monotonic()
        handle.cancel()
        if not actor.wait_streams(done + 1, 10):
            raise TimeoutError("cancel did not end the stream within 10 s")
        out.append((time.monotonic() - t0) * 1000)
        if type(actor.failed[-1]).__name__ != "StreamCancelled":
            raise AssertionError(f"expected StreamCancelled, got {actor.failed[-1]!r}")
    actor.stop()
    actor.join()
    client.close()
    return out


def _floor(url: str, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        peer = Floor()
        peer.open(url)
        sock = socket.create_connection(peer._addr)
        sock.sendall(peer._request(_MODEL))
        got = bytearray()
        released = threading.Event()

        def reader(sock: socket.socket = sock, got: bytearray = got,
                   released: threading.Event = released) -> None:
            try:
                while True:
                    data = sock.recv(65536)
                    if not data:
                        break
                    got.extend(data)
            except OSError:
                pass
            released.set()

        t = threading.Thread(target=reader)
        t.start()
        _wait_for(lambda got=got: got.count(b"data: ") >= 3)
        time.sleep(_SETTLE)
        t0 = time.monotonic()
        sock.shutdown(socket.SHUT_RDWR)
        released.wait(10)
        out.append((time.monotonic() - t0) * 1000)
        t.join()
        sock.close()
    return out


def _requests(url: str, reps: int) -> list[float]:
    peer = Requests()
    peer.open(url)
    out = []
    for _ in range(reps):
        seen = [0]
        released = threading.Event()
        box: list[Any] = []

        def reader(seen: list[int] = seen, released: threading.Event = released,
                   box: list[Any] = box) -> None:
            body = {"model": _MODEL, "messages": MESSAGES, "stream": True}
            try:
                with peer._session.post(peer._url, json=body, stream=True,
                                        timeout=(5, 1.0)) as r:
                    box.append(r)
                    for data in r.iter_content(chunk_size=None):
                        seen[0] += data.count(b"data: ")
            except Exception:
                pass
            released.set()

        t = threading.Thread(target=reader)
        t.start()
        _wait_for(lambda seen=seen: seen[0] >= 3)
        time.sleep(_SETTLE)
        t0 = time.monotonic()
        box[0].close()
        released.wait(10)
        out.append((time.monotonic() - t0) * 1000)
        t.join()
    peer.close()
    return out
