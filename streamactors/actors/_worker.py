"""One stream: transport -> decoder -> codec -> accumulator -> sink.

On a thread of its own (below), or without one when its target never blocks
(``_pooled``: connector threads and the shared reader run the same steps).

Theory of operation
-------------------
* ``start()`` registers the stream with its sink and the exit registry, arms
  the ``total``/``first_token`` deadlines and starts the thread.
* The thread sends the request, then reads the body as it arrives. Each read
  is framed (SSE or NDJSON), each event decoded by the provider codec, each
  chunk folded into the accumulator, and the chunks of one read are delivered
  to the sink as one batch, in order.
* Once the provider's end marker arrived the stream ends at once: the rest
  of the body is read for a moment (to reuse the connection), never waited for.
* Failures before the first delivered chunk are retried when retryable
  (backoff with jitter, ``Retry-After`` honoured, each retry logged at INFO and
  kept as a ``StreamEvent`` for the metrics record, as router fallbacks are);
  after the first delivered chunk never, so no chunk is delivered twice.
* Whatever happens (normal end, HTTP error, dropped connection, timeout,
  malformed data, a failed handler, cancel, interpreter exit, a bug), the
  ``finally`` of ``_run`` builds exactly one terminal message: ``Finish``
  only when a finish reason arrived, otherwise ``Error`` carrying the partial
  result. Every chunk decoded before a failure is delivered before it.
* The outcome is decided by sealing the cancel token: a cancel that came
  first makes the stream end cancelled, whatever else happened; one that comes
  later returns False. So ``cancel()`` returns True exactly when the stream
  ends with ``StreamCancelled`` (or the deadline's own error).
* Errors are re-typed at this one boundary: anything raised while the token
  is cancelled becomes the cancel's own error; keys are scrubbed from every
  text an error carries.
* The thread is a daemon: a target that never returns cannot keep the process
  alive; at exit every stream is cancelled and given a grace (``_registry``).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Sequence
from time import monotonic, perf_counter
from typing import Any

from .._chunk import Chunk, has_output
from .._gaps import Gaps
from .._output import read_output
from ..accumulate import Accumulator
from ..errors import (
    StreamCancelled,
    StreamError,
)
from ..metrics import StreamEvent, stream_ended
from ..transport._body import Body, map_read_error
from ..transport._cancel import CancelToken
from ..transport._reactor import Reactor
from ..transport._requests import Response, Transport
from ..transport._retry import backoff, should_retry
from ..transport._timeouts import Timeout
from ._deadlines import arm_deadlines, cancel_error
from ._pipeline import Pipeline
from ._plan import Plan, held_gate
from ._pooled import PooledRun
from ._registry import register_stream, unregister_stream
from ._response_checks import check_complete, check_response
from ._scrub import scrub_error, scrub_text
from ._sinks import Sink, cancelled_error
from ._stream import Error, Finish, StreamHandle

__all__ = ["Plan", "Worker"]

log = logging.getLogger("streamactors")

#: How long the rest of a body is read after the end marker (the chunked
#: terminator usually follows at once); past it the connection is dropped.
_END_GRACE = 0.01


class Worker:
    """Runs one stream. Build it, then ``start()`` it."""

    def __init__(
        self,
        handle: StreamHandle,
        *,
        plans: Sequence[Plan],
        transport: Transport,
        sink: Sink,
        timeout: Timeout,
        max_retries: int,
        max_event_bytes: int,
    ) -> None:
        if not plans:
            raise ValueError("a worker needs at least one plan")
        self.handle = handle
        self._plans = tuple(plans)
        self._use(self._plans[0])
        self._transport = transport
        self._sink = sink
        self.timeout = timeout
        self._max_retries = max_retries
        self._max_event_bytes = max_event_bytes
        self._acc = Accumulator(self._config.provider, self._config.model)
        self._pipeline: Pipeline | None = None
        self._t0 = 0.0
        self.first_at: float | None = None
        self._gaps = Gaps()
        self._events: list[StreamEvent] = []
        #: monotonic time of the last content (or of the current attempt's start)
        self.last_content = monotonic()
        self._retries = 0

    def _use(self, plan: Plan) -> None:
        self._provider = plan.provider
        self._config = plan.config
        self._request = plan.request
        self._http = plan.http_request
        self.handle.route = plan.route

    def start(self) -> None:
        """Open the sink and start the stream (``StreamCancelled`` if the
        target refuses it): without a thread of its own when its target never
        blocks and the shared reader reads bodies, else on a thread of its own
        (see the module docstring)."""
        handle = self.handle
        self._sink.open(handle)
        register_stream(handle)
        self._t0 = perf_counter()
        try:
            if self._pooled():
                arm_deadlines(self)
                PooledRun(self).begin()
                return
            thread = threading.Thread(target=self._run, name=f"streamactors-{handle.id}",
                                      daemon=True)
            handle._thread = thread
            arm_deadlines(self)
            thread.start()
        except BaseException:
            unregister_stream(handle)
            raise

    def _pooled(self) -> bool:
        """Whether this stream runs without a thread of its own: the shared
        reader reads bodies, its target never blocks, no route gate to wait
        on."""
        return (self._transport.reactor is not None and self._sink.nonblocking
                and all(plan.gate is None for plan in self._plans))

    # -- the thread ----------------------------------------------------------

    def _run(self) -> None:
        handle = self.handle
        token = handle._token
        error: StreamError | None = None
        try:
            self._stream(token)
        except StreamError as exc:
            error = exc
        except BaseException as exc:  # a bug must still end the stream properly
            log.error("%s: internal error in the worker", handle.id, exc_info=True)
            error = StreamError(f"internal error in the stream worker: {exc!r}")
            error.__cause__ = exc
        finally:
            if token.seal():  # a cancel that came first decides the outcome
                error = cancel_error(self, token, error)
            self._end(error)

    def _end(self, error: StreamError | None) -> None:
        handle = self.handle
        end = perf_counter()
        ttft = self.first_at - self._t0 if self.first_at is not None else None
        result = self._acc.result(
            time_to_first_token=ttft,
            duration=end - self._t0,
            retries=self._retries,
            route=handle.route,
            continuation=self._continuation(),
            gaps=self._gaps.summary(),
        )
        request = self._request
        result, error = read_output(request.output, request.tool_specs, result, error)
        config = self._config  # metrics record + estimated usage; never raises
        result = stream_ended(handle, f"{config.provider}/{config.model}", config.provider,
                              self._request, result, error, self._http.url, self._events)
        message: Error | Finish
        if error is None:
            message = Finish(handle, result)
        else:
            error.partial = result
            error.retries = self._retries
            if error.provider is None:
                error.provider = self._config.provider
            scrub_error(error, self._config)
            message = Error(handle, error)
        # Known to the handle first, so that the target may wait() for it
        # while the terminal message is delivered to it (on this thread).
        handle._result, handle._error = (result, None) if error is None else (None, error)
        try:
            self._sink.terminal(message)
        finally:
            handle._finish(result if error is None else None, error)
            unregister_stream(handle)

    def _continuation(self) -> dict[str, Any] | None:
        """What the codec says the provider needs back next turn (None if no
        body was read)."""
        if self._pipeline is None:
            return None
        try:
            return dict(self._pipeline.decoder.continuation())
        except Exception:  # what to send back next turn must not break this one
            log.error("%s: the codec failed to report its continuation", self.handle.id,
                      exc_info=True)
            return {}

    def _stream(self, token: CancelToken) -> None:
        for i, plan in enumerate(self._plans):
            try:
                self._gated(plan, token)
                return
            except StreamError as exc:
                if not self.fall_back(i, exc, token):
                    raise

    def _gated(self, plan: Plan, token: CancelToken) -> None:
        if plan.gate is None:
            self._retrying(token)
            return
        with held_gate(plan.gate, self.handle, token):
            self._retrying(token)

    def _retrying(self, token: CancelToken) -> None:
        attempt = 0
        while True:
            try:
                self._attempt(token)
                return
            except StreamError as exc:
                delay = self.retry_delay(exc, attempt, token)
                if delay is None:
                    raise
                attempt += 1
                if token.wait(delay):
                    raise StreamCancelled(reason=token.reason or "cancelled") from None
                self._retries += 1  # counted once made, not when announced

    def _attempt(self, token: CancelToken) -> None:
        response = self._send_checked(token)
        try:
            self._read(response, token)
        finally:
            response.close()

    def _send_checked(self, token: CancelToken) -> Response:
        """Send the request; return the response of a stream that starts
        (2xx, the right content type), else raise its typed error."""
        self.last_content = monotonic()  # each attempt has its full idle time
        response = self._transport.send(self._http, self.timeout, token)
        try:
            check_response(response, self._provider, self._http, self._config.provider)
        except BaseException:
            response.close()
            raise
        return response

    def retry_delay(self, exc: StreamError, attempt: int, token: CancelToken) -> float | None:
        """Seconds to wait before retrying after ``exc`` (attempt ``attempt``
        failed), or None when it must not be retried; logs the retry."""
        if token.cancelled or self._acc.chunks or attempt >= self._max_retries:
            return None
        if not should_retry(exc):
            return None
        delay = backoff(attempt, getattr(exc, "retry_after", None))
        log.info("%s: retry %d of %d in %.2f s after %s: %s", self.handle.id, attempt + 1,
                 self._max_retries, delay, type(exc).__name__, scrub_text(str(exc), self._config))
        self._event("retry", exc, str(attempt + 1))
        return delay

    def _event(self, kind: str, exc: StreamError, detail: str) -> None:
        self._events.append(StreamEvent(kind, perf_counter() - self._t0, type(exc).__name__,
                                        detail))

    def fall_back(self, index: int, exc: StreamError, token: CancelToken) -> bool:
        """Move to plan ``index + 1`` after plan ``index`` failed before any
        data; False when there is none or it is too late."""
        if index + 1 >= len(self._plans) or token.cancelled or self._acc.chunks:
            return False
        log.info("%s: route %s failed before any data (%s); falling back to %s",
                 self.handle.id, self._plans[index].route, type(exc).__name__,
                 self._plans[index + 1].route)
        plan = self._plans[index + 1]
        self._event("fallback", exc, plan.route or plan.config.model)
        self._use(plan)
        self._acc = Accumulator(plan.config.provider, plan.config.model)
        return True

    def new_pipeline(self) -> Pipeline:
        """A fresh pipeline for the body of this attempt."""
        pipe = self._pipeline = Pipeline(
            self._provider.new_decoder(self._request), self._http.framing == "sse",
            self._max_event_bytes, self._deliver)
        return pipe

    def _read(self, response: Response, token: CancelToken) -> None:
        pipe = self.new_pipeline()
        body = response.body
        reactor = self._transport.reactor
        handoff = (
            body.nonblocking_socket()
            if reactor is not None and self._sink.nonblocking
            else None
        )
        if handoff is None:
            self._read_here(body, pipe, token)
        else:
            assert reactor is not None
            sock, buffered = handoff
            try:
                read_all = self._read_by(reactor, sock, buffered, body, pipe, token)
            finally:
                body.restore_blocking(sock)
            if not read_all:  # handed back by the reactor: read the rest here
                self._read_here(body, pipe, token)
        self._after_body(body, pipe)

    def _after_body(self, body: Body, pipe: Pipeline) -> None:
        """The body was read (on this thread): the framer's tail, the rest of
        the framing after an end marker, and whether the answer is complete."""
        pipe.close()
        if pipe.decoder.done and not body.finished:
            # The end marker came: end now; the rest of the framing may follow
            # at once (then the connection is reused), else it is dropped.
            body.finish_within(_END_GRACE)
        self._check_complete()

    def _read_here(self, body: Body, pipe: Pipeline, token: CancelToken) -> None:
        """Read the body on this thread."""
        read, push, decoder = body.read, pipe.push, pipe.decoder
        while True:
            data = read()
            if not data:
                return
            push(data)
            if token.cancelled:
                raise StreamCancelled(reason=token.reason or "cancelled")
            if decoder.done:
                return

    def _read_by(self, reactor: Reactor, sock: socket.socket, buffered: bytes, body: Body,
                 pipe: Pipeline, token: CancelToken) -> bool:
        """Let the reactor read the body; False if it handed the stream back.
        (A compressed body never comes here: ``nonblocking_socket`` keeps it
        on its own thread.)"""
        feed_raw, push, decoder = body.feed_raw, pipe.push, pipe.decoder

        def on_data(data: bytes) -> bool:
            """Runs on the reactor thread while this worker waits."""
            payload = feed_raw(data)
            if payload:
                push(payload)
            if token.reason is not None:
                raise StreamCancelled(reason=token.reason)
            return body.finished or decoder.done

        if buffered and on_data(buffered):
            return True
        return reactor.run(sock, on_data, self.timeout.read, token,
                           lambda exc: map_read_error(exc, token))

    def _check_complete(self) -> None:
        check_complete(self._acc, self.handle.id)

    def _deliver(self, batch: list[Chunk]) -> None:
        # Chunks are folded in only once the target took them, so the partial
        # result of an error is exactly what was delivered (a cancel can
        # refuse a batch, or its tail, while the worker waits for room).
        if self.handle._first_chunk is None:
            self.handle._first_chunk = perf_counter() - self._t0
        if has_output(batch):
            now = monotonic()
            if self.first_at is None:
                self.first_at = perf_counter()
            else:
                self._gaps.add(now - self.last_content)
            self.last_content = now
        add = self._acc.add
        taken = self._sink.deliver(self.handle, batch)
        if taken == len(batch):
            for c in batch:
                add(c)
            return
        for c in batch[:taken]:  # refused in part: the token is cancelled
            add(c)
        raise cancelled_error(self.handle)

