"""One selector thread reading the bodies of many streams (``reader="reactor"``).

Theory of operation
-------------------
With a thread per stream, every chunk of a paced stream wakes its own
thread, and each wake-up takes the GIL: at hundreds of streams the wake-ups,
not the decoding, use the CPU (see docs/benchmarks.md). Here one thread reads
the bodies of many streams, running each stream's own sans-I/O pipeline
(framing, codec, accumulator) and delivering its chunks to its sink. Whoever
sent the request either waits for the body to end (``run``: a stream with a
thread of its own) or is called back when it ends (``start``: a pooled
stream, see ``actors/_pooled``).

Only sinks that never block take part (an unbounded ``StreamingClient``
mailbox, an unbounded ``queue.Queue``, a handle's own unbounded buffer): a
blocking delivery would stall every stream of the reader. Other targets, and
bodies urllib3 must read itself (compressed ones), are read on a thread of
their own.

A forked child gets a fresh selector and wake-up sockets (``register_at_fork``):
sharing the parent's epoll set would mix the two processes' sockets.

Reads keep the GIL. ``socket.recv`` releases the GIL around every call, and
at hundreds of streams some other thread (a worker sending its request, the
actor) is always waiting for it: each release hands it over, and the reactor
waits for its turn again, for every read, up to the 5 ms switch interval each
time (a "convoy"). On POSIX the reactor therefore calls the C library's
``recv`` through ``ctypes.PyDLL``, which keeps the GIL, with
``MSG_DONTWAIT``: the socket is ready, the call returns at once, and the
reactor releases the GIL only where it blocks (``poll``) or when the
interpreter's switch interval asks it to, and, in a long round at a heavy
load, every 2 ms (``_TURN``). Without those turns, at 1000 streams the
streams took about a third longer to start and the cyclic GC made twice as
many full collections (chunks waited longer in the actor's mailbox, so more of
them survived into older generations). A read of a burst (8 KiB or more, an
unpaced stream) is followed by a ``socket.recv``, which lets the GIL go while
the consumer has the burst's chunks to handle. TLS sockets, and platforms
without ``MSG_DONTWAIT`` or ``ctypes``, keep ``socket.recv``. Measurements:
see docs/benchmarks.md.

A job ends when its callback says the body is complete, raises, hits EOF, or
is silent for longer than its read timeout. Cancel needs nothing special: it
shuts the socket down, the selector reports it readable, ``recv`` gives EOF.

The reader is protected from its tenants. A callback that raises ends its
own job only. A stream whose callbacks cost too much of the reader's time
(one call over ``_SLOW_CALL``, or more than ``_BUSY_SHARE`` of a second: a
flood of comments, huge events) is handed back to its worker thread, which
goes on reading it alone (``run`` returns False), so the other streams keep
their latency. Every callback does bounded work per byte (the framing and
codecs guarantee it), so none can hold the reader for long.
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable
from time import perf_counter

from ..errors import ReadTimeout, StreamError
from ._cancel import CancelToken
from ._latch import Latch
from ._poll import ready_function
from ._recv import gil_holding_reader

__all__ = ["Reactor", "shared_reactor"]

log = logging.getLogger("streamactors")

_READ_SIZE = 65536
#: How often read timeouts are checked (their resolution).
_TICK = 0.05
#: Reads keep the GIL (see the module docstring), so in a long round the
#: reactor lets it go at least every ``_TURN`` seconds, checked every
#: ``_TURN_READS`` reads: workers starting streams, and the actor, get turns.
_TURN = 0.002
_TURN_READS = 16
#: A read this large is a burst (dozens of events): the stream's next read
#: goes through socket.recv, which lets the GIL go, so that its consumer keeps
#: up (keeping the GIL through an unpaced stream made S1 14 % dearer).
_BULK = 8192
#: A stream whose single callback took longer than this, or whose callbacks
#: took more than ``_BUSY_SHARE`` of the last second, is handed back to its
#: own thread. A paced chunk costs about 20 us and a 64 KiB burst a few ms;
#: the margins are wide because a pause of the cyclic GC, charged to whichever
#: callback it hit, must not often move a healthy stream (moving one is
#: harmless: it only costs that stream a thread of its own).
_SLOW_CALL = 0.05
_BUSY_SHARE = 0.2
#: recv found nothing after all (a spurious wake-up, TLS wanting more)
_AGAIN = (BlockingIOError, InterruptedError, ssl.SSLWantReadError)


class _Job:
    """One body being read: its socket, its callbacks, how it ended.

    ``read_timeout`` may be shortened by ``on_data`` itself (on the reactor
    thread): after the end of a stream's content, only the rest of its
    framing is still awaited, briefly."""

    __slots__ = ("busy", "done", "error", "fd", "held", "last", "map_error", "moved", "on_data",
                 "on_done", "plain", "read_timeout", "recv", "sock", "tls", "window")

    def __init__(
        self,
        sock: socket.socket,
        on_data: Callable[[bytes], bool],
        read_timeout: float | None,
        map_error: Callable[[BaseException], StreamError],
        on_done: Callable[[BaseException | None, bool], None] | None = None,
    ) -> None:
        self.sock = sock
        #: called on the reactor thread when the job ends: (error, moved)
        self.on_done = on_done
        self.fd = -1
        self.plain: Callable[[int], bytes] = sock.recv
        #: the GIL-holding recv, set on the reactor thread where available
        self.held: Callable[[int], bytes] | None = None
        self.recv: Callable[[int], bytes] = self.plain
        self.tls = isinstance(sock, ssl.SSLSocket)
        self.on_data = on_data
        self.read_timeout = read_timeout
        self.map_error = map_error
        self.last = time.monotonic()
        self.done = Latch()
        self.error: BaseException | None = None
        #: seconds its callbacks took since ``window`` (a monotonic time)
        self.busy = 0.0
        self.window = self.last
        #: True when the job was handed back to its worker thread
        self.moved = False


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
        #: the reactor thread's GIL-holding recv factory (None: socket.recv)
        self._reader: Callable[[socket.socket], Callable[[int], bytes]] | None = None
        #: registered jobs by file descriptor (the wake-up socket maps to None)
        self._jobs: dict[int, _Job | None] = {self._wake_r.fileno(): None}
        #: streams handed back to their own thread so far (see the module docs)
        self.handed_back = 0

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

    def start(
        self,
        sock: socket.socket,
        on_data: Callable[[bytes], bool],
        read_timeout: float | None,
        map_error: Callable[[BaseException], StreamError],
        on_done: Callable[[BaseException | None, bool], None],
    ) -> _Job:
        """Read ``sock`` (non-blocking) on the reactor thread, passing each
        read to ``on_data`` (b"" at EOF) until it returns True; return at once.

        When the job ends, ``on_done(error, moved)`` runs on the reactor
        thread: ``error`` is what ended it (None for a complete body),
        ``moved`` True when it was handed back because its callbacks cost too
        much (the caller then reads the rest of the body on a thread of its
        own; the socket is still non-blocking). ``on_done`` must not block."""
        job = _Job(sock, on_data, read_timeout, map_error, on_done)
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
        return job

    def run(
        self,
        sock: socket.socket,
        on_data: Callable[[bytes], bool],
        read_timeout: float | None,
        token: CancelToken,
        map_error: Callable[[BaseException], StreamError],
    ) -> bool:
        """``start`` for a caller that waits (a stream with a thread of its
        own): block until the job ended, raise what it ended with.

        Returns True when the job ended on the reactor, False when it was
        handed back: the caller then reads the rest of the body itself."""
        job = self.start(sock, on_data, read_timeout, map_error, _ignore)
        job.done.wait()
        if job.error is not None:
            raise job.error
        return not job.moved

    # -- the reactor thread ----------------------------------------------------

    def _loop(self) -> None:
        # The hot loop: one pass per ready socket, one recv each (a paced
        # chunk costs about 2 us of recv and 0.5 us of poll; the loop itself
        # should cost less).
        poll = ready_function(self._sel, self._jobs)
        self._reader = gil_holding_reader()
        jobs, serve, monotonic = self._jobs, self._serve, time.monotonic
        next_tick = monotonic() + _TICK
        last_turn = 0.0
        while True:
            ready = poll(max(0.0, next_tick - monotonic()) if len(jobs) > 1 else None)
            now = monotonic()
            for i, fd in enumerate(ready, 1):
                if not i % _TURN_READS:  # a long round: give others a turn
                    last_turn = _give_turn(last_turn)
                short = serve(fd, now)
                if short is not None and short < next_tick:
                    next_tick = short  # a short wait (the end of a body): on time
            if now >= next_tick:
                if len(jobs) > 1:
                    self._expire(now)
                next_tick = now + _TICK

    def _serve(self, fd: int, now: float) -> float | None:
        """Read the ready socket ``fd`` once and feed its job; returns when
        its job's read timeout is due if that is within a tick, else None."""
        job = self._jobs.get(fd)
        if job is None:
            if fd in self._jobs:  # the wake-up socket: jobs to register
                self._take_pending()
            return None
        try:
            data = job.recv(_READ_SIZE)
        except _AGAIN:
            return None
        except OSError as exc:
            self._finish(job, job.map_error(exc))
            return None
        job.last = now
        short = self._feed(job, data, now)
        if len(data) >= _BULK:  # a burst: read the next one as socket.recv does
            job.recv = job.plain
        elif job.held is not None:  # a trickle: keep the GIL
            job.recv = job.held
        return short

    def _feed(self, job: _Job, data: bytes, now: float) -> float | None:
        """Run the job's callback on one read (see ``_serve``)."""
        started = perf_counter()
        try:
            if job.on_data(data) or not data:
                self._finish(job, None)
                return None
            if job.tls:
                self._drain_tls(job)
        except BaseException as exc:  # the pipeline's own error ends this job only
            self._finish(job, exc)
            return None
        self._charge(job, perf_counter() - started, now)
        limit = job.read_timeout
        return now + limit if limit is not None and limit < _TICK else None

    def _drain_tls(self, job: _Job) -> None:
        """TLS may hold decrypted bytes the selector cannot see: read them."""
        sock = job.sock
        while sock.pending():  # type: ignore[attr-defined]
            try:
                data = job.recv(_READ_SIZE)
            except _AGAIN:
                return
            except OSError as exc:
                self._finish(job, job.map_error(exc))
                return
            if job.on_data(data) or not data:
                self._finish(job, None)
                return

    def _charge(self, job: _Job, spent: float, now: float) -> None:
        """Count a callback's time against its job; hand back a costly one."""
        if now - job.window > 1.0:
            job.window = now
            job.busy = 0.0
        job.busy += spent
        if (spent > _SLOW_CALL or job.busy > _BUSY_SHARE) and not job.done.is_set():
            job.moved = True
            self.handed_back += 1
            self._finish(job, None)

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
                self._finish(job, job.map_error(exc))
                continue
            if self._reader is not None and not job.tls:
                job.held = job.recv = self._reader(job.sock)
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
        if job.on_done is not None:
            try:
                job.on_done(error, job.moved)
            except BaseException:  # a stream's completion must not stop the reader
                log.error("a stream's completion failed on the reader thread", exc_info=True)


def _give_turn(last_turn: float) -> float:
    """Let the GIL go if the reader kept it for ``_TURN``; returns the time
    of the last turn."""
    now = time.monotonic()
    if now - last_turn < _TURN:
        return last_turn
    time.sleep(0)
    return now


def _ignore(error: BaseException | None, moved: bool) -> None:
    """The completion of a job whose caller waits on ``done``."""


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
