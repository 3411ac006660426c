"""A stream without a thread of its own: a logical worker run by the pools.

Theory of operation
-------------------
A stream whose target never blocks (an unbounded mailbox or queue, the
handle's own buffer) and whose body the shared reader can read needs no
thread while it streams. Its ``Worker`` keeps the state (handle, pipeline,
accumulator, plans); ``PooledRun`` moves it through its steps on whichever
thread is at hand:

1. *connect* (a connector thread, ``_connectors``): send the request and read
   the response head (``Worker._send_checked``: status and content type
   checked, error bodies read);
2. *read* (the reader thread, ``transport._reactor``): each read goes
   through the stream's pipeline into its target; after the provider's end
   marker the reader waits at most ``END_GRACE`` for the rest of the framing
   (so the connection can be reused), then the stream ends;
3. *end* (a connector thread, so that building the result, the metrics
   listeners and the terminal message never hold up the reader): retries and
   fallbacks go back to 1 (after the back-off, counted on the deadline
   thread, so no thread waits it out); otherwise the one terminal message,
   exactly as a threaded stream's.

A stream the reader hands back (its decoding costs too much of the reader's
time), and a body the reader cannot read (compressed, or read by urllib3),
go on in a thread of their own from there. A cancel ends a stream waiting
for a connector or a retry at once; one that connects or streams is ended
by its socket being shut down, as for a threaded stream.

Steps of one stream never run at the same time: each one starts the next
(or ends the stream), so the worker's state needs no lock; ``_lock`` only
guards the hand-over with a cancel arriving from another thread.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from typing import TYPE_CHECKING, Protocol

from ..errors import StreamCancelled, StreamError
from ..transport._body import map_read_error
from ..transport._timeouts import schedule
from ._connectors import connectors
from ._deadlines import Limited, cancel_error

if TYPE_CHECKING:
    from ..transport._body import Body
    from ..transport._cancel import CancelToken
    from ..transport._reactor import _Job
    from ..transport._requests import Response, Transport
    from ._pipeline import Pipeline


class Worker(Limited, Protocol):
    """What a pooled run uses of its stream's ``Worker`` (``_worker``): the
    state of the stream and its steps, shared with the threaded path."""

    _transport: Transport
    _retries: int

    def _send_checked(self, token: CancelToken) -> Response: ...

    def new_pipeline(self) -> Pipeline: ...

    def retry_delay(self, exc: StreamError, attempt: int, token: CancelToken) -> float | None: ...

    def fall_back(self, index: int, exc: StreamError, token: CancelToken) -> bool: ...

    def _read_here(self, body: Body, pipe: Pipeline, token: CancelToken) -> None: ...

    def _after_body(self, body: Body, pipe: Pipeline) -> None: ...

    def _check_complete(self) -> None: ...

    def _end(self, error: StreamError | None) -> None: ...


__all__ = ["PooledRun"]

log = logging.getLogger("streamactors")

#: After the end marker, how long the reader waits for the rest of the
#: framing before it drops the connection (the stream has ended already).
END_GRACE = 0.02

_QUEUED, _CONNECTING, _READING, _ENDED = range(4)


class PooledRun:
    """Moves one ``Worker`` through connect, read and end on shared threads."""

    __slots__ = ("_attempt", "_lock", "_plan", "_retry_due", "_state", "worker")

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._lock = threading.Lock()
        self._state = _QUEUED
        self._attempt = 0  # of the current plan
        self._plan = 0
        self._retry_due = False  # the next connect is a retry (counted once made)

    def begin(self) -> None:
        """Queue the first attempt; a cancel from now on is heard at once."""
        self.worker.handle._token.add_callback(self._on_cancel)
        connectors().submit(self._connect)

    # -- connect (a connector thread) -------------------------------------------

    def _connect(self) -> None:
        with self._lock:
            if self._state == _ENDED:
                return
            self._state = _CONNECTING
        worker = self.worker
        if self._retry_due:
            self._retry_due = False
            worker._retries += 1
        token = worker.handle._token
        try:
            if token.cancelled:
                raise StreamCancelled(reason=token.reason or "cancelled")
            response = worker._send_checked(token)
        except StreamError as exc:
            self._failed(exc)
            return
        except BaseException as exc:  # a bug must still end the stream properly
            self._failed(_internal(worker, exc))
            return
        self._read(response)

    def _read(self, response: Response) -> None:
        worker = self.worker
        pipe = worker.new_pipeline()
        body = response.body
        reactor = worker._transport.reactor
        handoff = body.nonblocking_socket() if reactor is not None else None
        if handoff is None or reactor is None:
            self._on_own_thread(response, pipe)
            return
        sock, buffered = handoff
        with self._lock:
            if self._state == _ENDED:  # cancelled meanwhile: the socket is shut
                body.restore_blocking(sock)
                response.close()
                return
            self._state = _READING
        reader = _BodyReader(self, response, pipe, sock)
        try:
            if buffered and reader.on_data(buffered):
                reader.on_done(None, False)
                return
        except BaseException as exc:
            reader.on_done(exc, False)
            return
        token = worker.handle._token
        job = reactor.start(sock, reader.on_data, worker.timeout.read,
                            lambda exc: map_read_error(exc, token), reader.on_done)
        reader.job = job
        if reader.draining:  # the buffered bytes held the end marker already
            job.read_timeout = END_GRACE

    def _on_own_thread(self, response: Response, pipe: Pipeline, sock: socket.socket | None = None
                       ) -> None:
        """Read the rest of the body on a thread of its own (the reader handed
        the stream back, or cannot read this body)."""

        def read() -> None:
            worker = self.worker
            body = response.body
            error: StreamError | None = None
            try:
                if sock is not None:
                    body.restore_blocking(sock)
                worker._read_here(body, pipe, worker.handle._token)
                worker._after_body(body, pipe)
            except StreamError as exc:
                error = exc
            except BaseException as exc:
                error = _internal(worker, exc)
            finally:
                response.close()
            if error is None:
                self._end(None)
            else:
                self._failed(error)

        name = f"streamactors-{self.worker.handle.id}"
        thread = threading.Thread(target=read, name=name, daemon=True)
        self.worker.handle._thread = thread
        thread.start()

    # -- end (any thread) ---------------------------------------------------------

    def _failed(self, exc: StreamError) -> None:
        """An attempt failed: retry it, fall back to the next plan, or end."""
        worker = self.worker
        token = worker.handle._token
        delay = worker.retry_delay(exc, self._attempt, token)
        if delay is not None:
            self._attempt += 1
            self._requeue(delay, retried=True)
            return
        if worker.fall_back(self._plan, exc, token):
            self._plan += 1
            self._attempt = 0
            self._requeue(0.0, retried=False)
            return
        self._end(exc)

    def _requeue(self, delay: float, *, retried: bool) -> None:
        with self._lock:
            if self._state == _ENDED:
                return
            self._state = _QUEUED
        self._retry_due = retried
        if delay > 0:
            schedule(delay, lambda: connectors().submit(self._connect))
        else:
            connectors().submit(self._connect)

    def _end(self, error: StreamError | None) -> None:
        """The one terminal message (once, whoever calls first)."""
        with self._lock:
            if self._state == _ENDED:
                return
            self._state = _ENDED
        worker = self.worker
        token = worker.handle._token
        token.remove_callback(self._on_cancel)
        if token.seal():  # a cancel that came first decides the outcome
            error = cancel_error(worker, token, error)
        try:
            worker._end(error)
        except BaseException:  # never raised into the reader or a connector
            log.error("%s: ending the stream failed", worker.handle.id, exc_info=True)

    def _on_cancel(self) -> None:
        """A cancel (any thread): a stream waiting for a connector or a retry
        ends now; one connecting or streaming ends when its socket, shut
        down by the cancel, says so."""
        with self._lock:
            waiting = self._state == _QUEUED
        if waiting:
            token = self.worker.handle._token
            self._end(StreamCancelled(reason=token.reason or "cancelled"))


class _BodyReader:
    """The reader thread's side of one body: feed the pipeline; after the end
    marker wait briefly for the end of the framing (to reuse the connection);
    end the stream when the job ends."""

    __slots__ = ("_body", "_decoder", "_pipe", "_push", "_response", "_run", "_sock", "_token",
                 "draining", "job")

    def __init__(self, run: PooledRun, response: Response, pipe: Pipeline,
                 sock: socket.socket) -> None:
        self._run = run
        self._response = response
        self._body = response.body
        self._pipe = pipe
        self._push = pipe.push
        self._decoder = pipe.decoder
        self._sock = sock
        self._token = run.worker.handle._token
        #: the end marker came: only the rest of the framing is still read
        self.draining = False
        self.job: _Job | None = None

    def on_data(self, data: bytes) -> bool:
        """One read (the reader thread); True when the job is over."""
        body = self._body
        payload = body.feed_raw(data)
        if self.draining:
            return body.finished
        if payload:
            self._push(payload)
        if self._token.reason is not None:
            raise StreamCancelled(reason=self._token.reason)
        if not self._decoder.done or body.finished:
            return body.finished
        # The end marker came and the body goes on: give its framing a moment
        # to end (the terminator usually follows at once), then drop it.
        self.draining = True
        if self.job is not None:
            self.job.read_timeout = END_GRACE
        return False

    def on_done(self, error: BaseException | None, moved: bool) -> None:
        """The job ended (the reader thread): hand the rest to a connector, so
        that building the result, the metrics listeners (user code) and the
        terminal message never hold up the reader's other streams."""
        run = self._run
        if moved and not self.draining:
            run._on_own_thread(self._response, self._pipe, self._sock)
            return
        self._body.restore_blocking(self._sock)
        connectors().submit(lambda: self._complete(error))

    def _complete(self, error: BaseException | None) -> None:
        """(A connector thread.) End the stream, or retry it."""
        run = self._run
        # After the end marker, a silent or broken rest of the body is no
        # failure of the stream: its answer is whole.
        failure = None if self.draining else _as_stream_error(run.worker, error)
        if failure is None:
            try:
                self._pipe.close()
                run.worker._check_complete()
            except StreamError as exc:
                failure = exc
        self._response.close()
        if failure is None:
            run._end(None)
        else:
            run._failed(failure)


def _as_stream_error(worker: Worker, error: BaseException | None) -> StreamError | None:
    if error is None or isinstance(error, StreamError):
        return error
    if isinstance(error, (OSError, ssl.SSLError)):
        return map_read_error(error, worker.handle._token)
    return _internal(worker, error)


def _internal(worker: Worker, exc: BaseException) -> StreamError:
    log.error("%s: internal error in the stream worker", worker.handle.id, exc_info=exc)
    error = StreamError(f"internal error in the stream worker: {exc!r}")
    error.__cause__ = exc
    return error
