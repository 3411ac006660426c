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

A forked child gets a fresh selector and wake-up sockets (``register_at_fork``):
sharing the parent's epoll set would mix the two processes' sockets.

A job ends when its callback says the body is complete, raises, hits EOF, or
is silent for longer than its read timeout. Cancel needs nothing special: it
shuts the socket down, the selector reports it readable, ``recv`` gives EOF.
"""

from __future__ import annotations

import os
import selectors
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from ._cancel import CancelToken
from .errors import ReadTimeout, StreamError

__all__ = ["Reactor", "shared_reactor"]

_READ_SIZE = 65536
#: How often read timeouts are checked (their resolution).
_TICK = 0.05


class _Job:
    __slots__ = ("done", "error", "fd", "last", "map_error", "on_data", "read_timeout", "recv",
                 "sock", "tls")

    def __init__(
        self,
        sock: socket.socket,
        on_data: Callable[[bytes], bool],
        read_timeout: float | None,
        map_error: Callable[[BaseException], StreamError],
    ) -> None:
        self.sock = sock
        self.fd = -1
        self.recv = sock.recv
        self.tls = isinstance(sock, ssl.SSLSocket)
        self.on_data = on_data
        self.read_timeout = read_timeout
        self.map_error = map_error
        self.last = time.monotonic()
        self.done = threading.Event()
        self.error: BaseException | None = None


class Reactor:
    """Reads registered sockets on one daemon thread, started on first use."""

    def __init__(self) -> None:
        self._open()
        _reactors.add(self)

    def _open(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._pending: list[_Job] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread: threading.Thread | None = None
        #: registered jobs by file descriptor (the wake-up socket maps to None)
        self._jobs: dict[int, _Job | None] = {self._wake_r.fileno(): None}

    def _after_fork_in_child(self) -> None:
        """A forked child must not share the parent's epoll set and wake-up
        sockets (its registrations would change the parent's, and either
        process could swallow the other's wake-ups): start afresh. The
        parent's jobs belong to worker threads the child does not have."""
        for closable in (self._sel, self._wake_r, self._wake_w):
            try:
                closable.close()
            except OSError:
                pass
        self._open()

    def __repr__(self) -> str:
        return f"<Reactor jobs={len(self._jobs) - 1}>"

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
        # The hot loop of reactor mode: one pass per ready socket, one recv
        # each, everything looked up once (a paced chunk costs about 2 us of
        # recv and 0.5 us of poll; the rest of this loop should cost less).
        poll = self._poll_function()
        jobs = self._jobs
        get = jobs.get
        monotonic = time.monotonic
        size = _READ_SIZE
        again = (BlockingIOError, InterruptedError, ssl.SSLWantReadError)
        next_tick = monotonic() + _TICK
        while True:
            timeout = max(0.0, next_tick - monotonic()) if len(jobs) > 1 else None
            ready = poll(timeout)
            now = monotonic()
            for fd in ready:
                job = get(fd)
                if job is None:
                    if fd in jobs:
                        self._take_pending()
                    continue
                try:
                    data = job.recv(size)
                except again:
                    continue
                except OSError as exc:
                    self._finish(job, job.map_error(exc))
                    continue
                job.last = now
                try:
                    if job.on_data(data) or not data:
                        self._finish(job, None)
                    elif job.tls:
                        self._drain_tls(job)
                except BaseException as exc:  # the pipeline's own error ends this job only
                    self._finish(job, exc)
            if now >= next_tick:
                if len(jobs) > 1:
                    self._expire(now)
                next_tick = now + _TICK

    def _poll_function(self) -> Callable[[float | None], list[int]]:
        """``timeout -> ready file descriptors`` over the selector's own
        epoll/kqueue/poll object when it has one (selectors' key objects cost
        more than the recv), else through the selector."""
        select = self._sel.select
        raw: Any = getattr(self._sel, "_selector", None)  # the epoll object, where there is one
        if isinstance(self._sel, getattr(selectors, "EpollSelector", ())) and hasattr(raw, "poll"):
            epoll = raw.poll
            jobs = self._jobs

            def poll(timeout: float | None) -> list[int]:
                # As EpollSelector: room for every registered socket (epoll's
                # own default stops at 1023 events per call).
                events = epoll(-1 if timeout is None else timeout, len(jobs))
                return [fd for fd, _ in events]

            return poll

        def generic(timeout: float | None) -> list[int]:
            return [key.fd for key, _ in select(timeout)]

        return generic

    def _drain_tls(self, job: _Job) -> None:
        """TLS may hold decrypted bytes the selector cannot see: read them."""
        sock = job.sock
        while sock.pending():  # type: ignore[attr-defined]
            try:
                data = job.recv(_READ_SIZE)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                return
            except OSError as exc:
                self._finish(job, job.map_error(exc))
                return
            if job.on_data(data) or not data:
                self._finish(job, None)
                return

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
                job.fd = job.sock.fileno()
            except (ValueError, OSError) as exc:  # socket already closed
                job.error = job.map_error(exc)
                job.done.set()
                continue
            job.last = time.monotonic()
            self._jobs[job.fd] = job

    def _expire(self, now: float) -> None:
        for job in [j for j in self._jobs.values() if j is not None
                    and j.read_timeout is not None and now - j.last > j.read_timeout]:
            self._finish(job, ReadTimeout("no data from the server within the read timeout"))

    def _finish(self, job: _Job, error: BaseException | None) -> None:
        if self._jobs.get(job.fd) is job:
            del self._jobs[job.fd]
            try:
                self._sel.unregister(job.sock)
            except (KeyError, ValueError, OSError):
                pass
        job.error = error
        job.done.set()


_shared: Reactor | None = None
_shared_lock = threading.Lock()
_reactors: weakref.WeakSet[Reactor] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    global _shared_lock
    _shared_lock = threading.Lock()  # another thread may have held it at the fork
    for reactor in list(_reactors):
        reactor._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def shared_reactor() -> Reactor:
    """The process's one reactor (its thread and wake-up sockets live as long
    as the process: one selector thread serves every client)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Reactor()
        return _shared
