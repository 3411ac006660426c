"""One selector thread reading the bodies of many streams (``reader="reactor"``).

Theory of operation
-------------------
With a thread per stream, every chunk of a paced stream wakes its own
thread, and each wake-up takes the GIL: at hundreds of streams the wake-ups,
not the decoding, use the CPU (see docs/benchmarks.md). In reactor mode each
stream keeps its worker thread for everything but the body: the worker sends
the request, reads the headers, handles retries and builds the one terminal
message exactly as before, but while the body streams it waits on an event
and the reactor thread reads its socket, running the stream's own sans-I/O
pipeline (framing, codec, accumulator) and delivering batches to its sink.

Only sinks that never block take part (an unbounded ``StreamingClient``
mailbox, an unbounded ``queue.Queue``, a handle's own unbounded buffer): a
blocking delivery would stall every stream of the reactor. Other targets, and
bodies urllib3 must read itself, stay on the thread-per-stream path.

A job ends when its callback says the body is complete, raises, hits EOF, or
is silent for longer than its read timeout. Cancel needs nothing special: it
shuts the socket down, the selector reports it readable, ``recv`` gives EOF.
"""

from __future__ import annotations

import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable

from ._cancel import CancelToken
from .errors import ReadTimeout, StreamError

__all__ = ["Reactor", "shared_reactor"]

_READ_SIZE = 65536
#: How often read timeouts are checked (their resolution).
_TICK = 0.05


class _Job:
    __slots__ = ("done", "error", "last", "map_error", "on_data", "read_timeout", "sock")

    def __init__(
        self,
        sock: socket.socket,
        on_data: Callable[[bytes], bool],
        read_timeout: float | None,
        map_error: Callable[[BaseException], StreamError],
    ) -> None:
        self.sock = sock
        self.on_data = on_data
        self.read_timeout = read_timeout
        self.map_error = map_error
        self.last = time.monotonic()
        self.done = threading.Event()
        self.error: BaseException | None = None


class Reactor:
    """Reads registered sockets on one daemon thread, started on first use."""

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._pending: list[_Job] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread: threading.Thread | None = None
        self._jobs: set[_Job] = set()

    def __repr__(self) -> str:
        return f"<Reactor jobs={len(self._jobs)}>"

    def run(
        self,
        sock: socket.socket,
        on_data: Callable[[bytes], bool],
        read_timeout: float | None,
        token: CancelToken,
        map_error: Callable[[BaseException], StreamError],
    ) -> None:
        """Read ``sock`` (non-blocking) on the reactor thread, passing each
        read to ``on_data`` (b"" at EOF) until it returns True; block the
        calling worker meanwhile and raise what the job ended with."""
        job = _Job(sock, on_data, read_timeout, map_error)
        with self._lock:
            self._pending.append(job)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="streamactors-reactor", daemon=True
                )
                self._thread.start()
        try:
            self._wake_w.send(b"x")
        except (BlockingIOError, InterruptedError):
            pass  # a wake-up is already pending
        job.done.wait()
        if job.error is not None:
            raise job.error

    # -- the reactor thread ----------------------------------------------------

    def _loop(self) -> None:
        select = self._sel.select
        next_tick = time.monotonic() + _TICK
        while True:
            timeout = max(0.0, next_tick - time.monotonic()) if self._jobs else None
            for key, _ in select(timeout):
                job = key.data
                if job is None:
                    self._take_pending()
                else:
                    self._readable(job)
            if self._jobs and time.monotonic() >= next_tick:
                self._expire()
                next_tick = time.monotonic() + _TICK

    def _take_pending(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        with self._lock:
            jobs, self._pending = self._pending, []
        for job in jobs:
            try:
                self._sel.register(job.sock, selectors.EVENT_READ, job)
            except (ValueError, OSError) as exc:  # socket already closed
                job.error = job.map_error(exc)
                job.done.set()
                continue
            job.last = time.monotonic()
            self._jobs.add(job)

    def _readable(self, job: _Job) -> None:
        sock = job.sock
        try:
            while True:
                try:
                    data = sock.recv(_READ_SIZE)
                except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                    return
                except OSError as exc:
                    self._finish(job, job.map_error(exc))
                    return
                job.last = time.monotonic()
                if job.on_data(data) or not data:
                    self._finish(job, None)
                    return
                # TLS may hold decrypted bytes the selector cannot see.
                if not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                    return
        except BaseException as exc:  # the pipeline's own error ends this job only
            self._finish(job, exc)

    def _expire(self) -> None:
        now = time.monotonic()
        for job in [j for j in self._jobs if j.read_timeout is not None
                    and now - j.last > j.read_timeout]:
            self._finish(job, ReadTimeout("no data from the server within the read timeout"))

    def _finish(self, job: _Job, error: BaseException | None) -> None:
        try:
            self._sel.unregister(job.sock)
        except (KeyError, ValueError, OSError):
            pass
        self._jobs.discard(job)
        job.error = error
        job.done.set()


_shared: Reactor | None = None
_shared_lock = threading.Lock()


def shared_reactor() -> Reactor:
    """The process's one reactor (its thread and wake-up sockets live as long
    as the process: one selector thread serves every client)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Reactor()
        return _shared
