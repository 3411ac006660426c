"""One stream as its caller and its target see it: the ``StreamHandle`` (the
caller's grip on it) and the three messages it sends to its target, in this
order: any number of ``Data``, then exactly one ``Error`` or ``Finish``.

They live together because each names the other: a message carries its
stream's handle, and a handle iterates its messages."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from .._chunk import Chunk
from .._output import OutputSpec
from .._result import StreamResult
from .._tools import ToolSpec
from ..errors import StreamError, UsageError
from ..transport._cancel import CancelToken
from ..transport._latch import Latch

__all__ = ["Data", "Error", "Finish", "Message", "MessageSource", "StreamHandle"]

_ids = itertools.count(1)


class StreamHandle:
    """One stream: cancel it, wait for it, read its result.

    Returned at once by ``chat()``; the stream runs in its own worker thread.
    ``cancel()``, ``done()``, ``result`` and ``error`` are safe to call from
    any thread, including from inside the stream's own delivery. ``wait()``
    and iteration from inside that delivery (a callable target, a bounded
    actor's handler for this stream) could never return: they raise
    ``UsageError`` instead of deadlocking.

    Attributes:
        id: unique within the process (``"stream-42"``).
        model: the ``provider/model`` it was started with.
        route: the router route serving it, when started through a ``Router``.
    """

    __slots__ = (
        "_channel",
        "_delivery_thread",
        "_done",
        "_error",
        "_first_chunk",
        "_output",
        "_result",
        "_thread",
        "_token",
        "_tool_specs",
        "id",
        "model",
        "route",
        "waiting",
    )

    def __init__(self, model: str, *, channel: MessageSource | None = None) -> None:
        self.id = f"stream-{next(_ids)}"
        self.model = model
        self.route: str | None = None
        #: True while the stream waits for a concurrency slot (router limits).
        self.waiting = False
        self._token = CancelToken()
        #: the JSON answer asked for (``response_format``), for partials
        self._output: OutputSpec | None = None
        #: the tools given as models or functions (``PartialToolCall`` shapes)
        self._tool_specs: Mapping[str, ToolSpec] = {}
        #: seconds from the request to its first chunk, once it came (the
        #: relay's overhead header)
        self._first_chunk: float | None = None
        self._done = Latch()
        self._result: StreamResult | None = None
        self._error: StreamError | None = None
        self._thread: threading.Thread | None = None
        #: A thread that delivers this stream's messages and must not wait
        #: for it (a bounded actor's mailbox thread: the worker may be waiting
        #: for room in that mailbox). Set by the target when it opens.
        self._delivery_thread: threading.Thread | None = None
        self._channel = channel

    def __repr__(self) -> str:
        if self._done.is_set():
            state = "done"
        else:
            state = "cancelling" if self._token.cancelled else "running"
        return f"<StreamHandle {self.id} {self.model} {state}>"

    def cancel(self) -> bool:
        """End the stream now with ``StreamCancelled`` (carrying the partial
        result). A worker blocked in a socket read is released at once.

        Returns True exactly when the stream will end with
        ``StreamCancelled``; False when it had already ended, was already
        cancelled, or its outcome was already decided (a cancel racing the
        natural end loses cleanly: the stream ends with ``Finish``)."""
        if self._done.is_set():
            return False
        return self._token.cancel("cancelled")

    def done(self) -> bool:
        """True once the terminal message was delivered."""
        return self._done.is_set()

    @property
    def result(self) -> StreamResult | None:
        """The result of a stream that finished normally, else None."""
        return self._result

    @property
    def error(self) -> StreamError | None:
        """The error of a stream that failed, else None."""
        return self._error

    def wait(self, timeout: float | None = None) -> StreamResult:
        """Block until the stream ended; return its result or raise its error.

        Raises:
            StreamError: the stream's own error (with ``partial``).
            TimeoutError: the stream is still running after ``timeout`` seconds
                (it keeps running; cancel it if you are giving up).
            UsageError: called from the stream's own delivery, where waiting
                could never end (the terminal message being delivered is the
                one exception: its result is returned, or its error raised).
        """
        if not self._done.is_set():
            early = self._from_own_delivery("wait() for it")
            if early is not None:
                return early
        if not self._done.wait(timeout):
            raise TimeoutError(f"{self.id} still running after {timeout} s")
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def __iter__(self) -> Iterator[Message]:
        """The messages of a stream started with ``stream_to=None``: ``Data``...
        then one ``Finish`` or ``Error``."""
        if self._channel is None:
            raise TypeError(
                f"{self.id} delivers to the target given as stream_to; only a stream "
                "started with stream_to=None can be iterated"
            )
        if not self._done.is_set():
            self._from_own_delivery("iterate it")
        return self._channel.messages(self)

    def _from_own_delivery(self, what: str) -> StreamResult | None:
        """Raise ``UsageError`` when called where this stream is delivered
        (its worker thread, or the bounded actor it waits for); return the
        result while the terminal message itself is being delivered."""
        current = threading.current_thread()
        if current is not self._thread and current is not self._delivery_thread:
            return None
        if current is self._thread and self._error is not None:
            raise self._error  # the Error being delivered
        if current is self._thread and self._result is not None:
            return self._result  # the Finish being delivered
        raise UsageError(
            f"cannot {what} from inside its own delivery ({current.name}): the stream "
            "waits for this code to return, so this call would never end; keep the handle "
            "and wait elsewhere, or use handle_finish/handle_error (or the Finish/Error "
            "message) to act on the end"
        )

    def _finish(self, result: StreamResult | None, error: StreamError | None) -> None:
        self._result = result
        self._error = error
        self._done.set()


class MessageSource(Protocol):
    """Where a handle started with ``stream_to=None`` reads its messages (the
    handle's own ``Channel``)."""

    def messages(self, handle: StreamHandle) -> Iterator[Message]: ...

    def messages_or_idle(self, handle: StreamHandle,
                         idle: float | None) -> Iterator[Message | None]: ...


@dataclass(frozen=True, slots=True)
class Data:
    """One chunk of the stream ``stream``."""

    stream: StreamHandle
    chunk: Chunk


@dataclass(frozen=True, slots=True)
class Error:
    """The stream failed; ``error.partial`` holds what it had delivered."""

    stream: StreamHandle
    error: StreamError


@dataclass(frozen=True, slots=True)
class Finish:
    """The stream ended normally with ``result``."""

    stream: StreamHandle
    result: StreamResult


Message = Data | Error | Finish
