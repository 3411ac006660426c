"""``FakeTransport``: a ``Transport`` that replays scripted or recorded bytes.

For tests of code above the transport (the worker, the actors, your own
handlers) that need no socket and no server: each request gets the next
scripted ``Reply`` (a status, headers, and body pieces with pauses and drops
between them), and the body is read exactly as a real one is, through the
same ``_wire`` body reader, by the worker's own thread.

    fake = FakeTransport(Reply.recorded("tests/data/recorded/openai-chat/01_text_usage.sse"))
    client = streamactors.Client(transport=fake, api_key="test")

What it honours, as the real transport does:

* ``token.cancel()`` ends a read (or a wait for the head) blocked in a
  ``Pause`` at once, with ``StreamCancelled``;
* a ``Pause`` longer than the read timeout ends in ``ReadTimeout`` once the
  read timeout passed;
* ``Drop`` fails the request (in the replies) or the body (in a body) with a
  fresh, retryable ``StreamConnectionError``;
* ``transfer-encoding: chunked`` or ``content-length`` among the headers make
  the pieces wire bytes, de-framed (and checked) by the real body readers;
  without them the pieces are the payload, ended by the end of the script.

It has no shared reader (``reactor`` is None; ``nonblocking_socket()``
returns None), so every stream reads its body on its own worker thread.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .._wire._bodies import BodyReader, reader_for
from ..errors import (
    ConfigurationError,
    ReadTimeout,
    StreamCancelled,
    StreamConnectionError,
    UsageError,
)
from ..providers._base import HTTPRequest
from ._base import MAX_ERROR_BODY, read_all

if TYPE_CHECKING:
    import socket

    from ._cancel import CancelToken
    from ._reactor import Reactor
    from ._timeouts import Timeout

__all__ = ["Drop", "FakeBody", "FakeResponse", "FakeTransport", "Pause", "Reply"]


@dataclass(frozen=True)
class Pause:
    """A silence of ``seconds`` (``math.inf``: until a cancel or the read
    timeout) before the next body piece, or before the response head."""

    seconds: float

    def __post_init__(self) -> None:
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float)) \
                or not self.seconds >= 0:
            raise ConfigurationError(
                f"Pause seconds must be a number >= 0 (math.inf: forever), got {self.seconds!r}")


@dataclass(frozen=True)
class Drop:
    """The connection drops here: among the replies, the request fails before
    any response; in a body, the read fails (a retryable
    ``StreamConnectionError`` either way)."""

    message: str = "the fake server dropped the connection"


#: One piece of a scripted body.
BodyItem = bytes | Pause | Drop


def _default_headers() -> dict[str, str]:
    return {"content-type": "text/event-stream"}


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP response.

    Attributes:
        status: the HTTP status.
        headers: the response headers (default: an event stream).
        body: bytes, or a sequence of pieces: ``bytes`` (one read each),
            ``Pause`` and ``Drop``; the body ends after the last piece.
        delay: seconds before the response head arrives.
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=_default_headers)
    body: bytes | Sequence[BodyItem] = ()
    delay: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.status, bool) or not isinstance(self.status, int) \
                or not 100 <= self.status <= 599:
            raise ConfigurationError(f"Reply status must be an HTTP status (100-599), "
                                     f"got {self.status!r}")
        pieces = (self.body,) if isinstance(self.body, (bytes, bytearray)) else tuple(self.body)
        for piece in pieces:
            if not isinstance(piece, (bytes, bytearray, Pause, Drop)):
                raise ConfigurationError(f"Reply body pieces must be bytes, Pause or Drop, "
                                         f"got {piece!r:.60}")
        object.__setattr__(self, "body", tuple(
            bytes(p) if isinstance(p, bytearray) else p for p in pieces if p != b""))
        object.__setattr__(self, "headers", {k.lower(): v for k, v in self.headers.items()})
        Pause(self.delay)  # the same check

    @classmethod
    def recorded(cls, source: str | Path | bytes, *, piece: int | None = None,
                 delay: float = 0.0, status: int = 200,
                 headers: Mapping[str, str] | None = None) -> Reply:
        """A recorded response body (a ``.sse`` or ``.ndjson`` file, or its
        bytes), cut into reads of ``piece`` bytes (None: one read), with
        ``delay`` seconds between reads. The content type follows the file's
        suffix (``.ndjson``: ``application/x-ndjson``) unless ``headers``
        give one."""
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        if headers is None:
            ndjson = not isinstance(source, bytes) and str(source).endswith(".ndjson")
            headers = {"content-type": "application/x-ndjson" if ndjson
                       else "text/event-stream"}
        if piece is not None and piece < 1:
            raise ConfigurationError(f"Reply.recorded piece must be >= 1 byte, got {piece!r}")
        size = piece or max(len(data), 1)
        items: list[BodyItem] = []
        for start in range(0, len(data), size):
            if start and delay:
                items.append(Pause(delay))
            items.append(data[start:start + size])
        return cls(status=status, headers=headers, body=items)


#: What a ``FakeTransport`` answers with (see its docs).
Replies = Reply | Drop | Sequence[Reply | Drop] | Callable[[HTTPRequest], Reply | Drop]


class FakeTransport:
    """A ``Transport`` answering each request with the next scripted reply.

    Args:
        replies: one ``Reply`` (or ``Drop``) that answers every request; a
            sequence of them, one per request in order (a request past the
            end fails with ``UsageError``); or a callable from the
            ``HTTPRequest`` to its reply.

    Attributes:
        requests: every request sent, in order (headers with secrets masked
            in their repr).
        responses: every response given, in order (to check that each was
            closed, and whether its connection would have been reused).
    """

    #: No shared reader: every body is read by its own worker thread.
    reactor: Reactor | None = None

    def __init__(self, replies: Replies) -> None:
        self._replies = replies
        self._lock = threading.Lock()
        self.requests: list[HTTPRequest] = []
        self.responses: list[FakeResponse] = []
        self.closed = False

    def __repr__(self) -> str:
        return f"<FakeTransport requests={len(self.requests)}>"

    def _next(self, request: HTTPRequest) -> Reply | Drop:
        with self._lock:
            self.requests.append(request)
            count = len(self.requests)
        replies = self._replies
        if isinstance(replies, (Reply, Drop)):
            return replies
        if callable(replies):
            return replies(request)
        if count > len(replies):
            raise UsageError(
                f"FakeTransport has no reply for request {count} ({request.method} "
                f"{request.url}): give one Reply per request, or a single Reply for all")
        return replies[count - 1]

    def send(self, request: HTTPRequest, timeout: Timeout, token: CancelToken) -> FakeResponse:
        """The next reply's head, after its ``delay`` (see the class docs)."""
        if token.cancelled:
            raise StreamCancelled(reason=token.reason or "cancelled")
        reply = self._next(request)
        if isinstance(reply, Drop):
            raise StreamConnectionError(f"request to the fake server failed: {reply.message}")
        response = FakeResponse(reply, timeout.read, token)
        with self._lock:
            self.responses.append(response)
        if reply.delay:
            try:
                response.body.wait(reply.delay, "no response headers")
            except BaseException:
                response.close()
                raise
        return response

    def close(self) -> None:
        self.closed = True


class FakeResponse:
    """The head of a scripted response, and its body (implements ``Response``)."""

    def __init__(self, reply: Reply, read_timeout: float | None, token: CancelToken) -> None:
        self.status_code = reply.status
        self.headers: Mapping[str, str] = dict(reply.headers)
        self.body = FakeBody(reply, read_timeout, token)

    def read_all(self, limit: int = MAX_ERROR_BODY) -> bytes:
        return read_all(self.body, limit)

    def close(self) -> None:
        self.body.close()


class FakeBody:
    """A scripted body, read piece by piece (implements ``Body``)."""

    def __init__(self, reply: Reply, read_timeout: float | None, token: CancelToken) -> None:
        headers = reply.headers
        length = headers.get("content-length")
        self._reader: BodyReader = reader_for(
            "chunked" in headers.get("transfer-encoding", "").lower(),
            int(length) if length is not None else None)
        assert not isinstance(reply.body, bytes)  # made a tuple by Reply
        self._items: deque[BodyItem] = deque(reply.body)
        self._read_timeout = read_timeout
        self._token = token
        self._aborted = threading.Event()
        token.attach(self._aborted.set)
        self._dirty = False
        #: True once ``close()`` was called.
        self.closed = False

    @property
    def finished(self) -> bool:
        return self._reader.done

    @property
    def reusable(self) -> bool:
        reader = self._reader
        return (reader.done and not reader.surplus and not self._dirty
                and not self._token.cancelled)

    def wait(self, seconds: float, what: str = "no data") -> None:
        """A pause of ``seconds``, cut short by a cancel (``StreamCancelled``)
        or by the read timeout (``ReadTimeout``)."""
        timeout = self._read_timeout
        timed_out = timeout is not None and seconds >= timeout
        limit = timeout if timed_out else seconds
        if self._aborted.wait(None if limit is None or math.isinf(limit) else limit) \
                or self._token.cancelled:
            raise StreamCancelled(reason=self._token.reason or "cancelled")
        if timed_out:
            raise ReadTimeout(f"{what} from the fake server within the read timeout "
                              f"of {timeout} s")

    def read(self) -> bytes:
        reader = self._reader
        while not reader.done:
            if self._token.cancelled:
                raise StreamCancelled(reason=self._token.reason or "cancelled")
            if not self._items:
                reader.eof()  # the end of the script: the server closes
                return b""
            item = self._items.popleft()
            if isinstance(item, Pause):
                self.wait(item.seconds)
            elif isinstance(item, Drop):
                raise StreamConnectionError(
                    f"connection failed while reading the stream: {item.message}")
            else:
                payload = reader.feed(item)
                if payload or reader.done:
                    return payload
        return b""

    def finish_within(self, seconds: float) -> None:
        """Read what the script has left of the framing, for up to ``seconds``
        of its pauses; never raises."""
        reader = self._reader
        budget = seconds
        try:
            while not reader.done and self._items and budget > 0:
                item = self._items.popleft()
                if isinstance(item, Pause):
                    if self._aborted.wait(min(item.seconds, budget)) or item.seconds > budget:
                        return
                    budget -= item.seconds
                elif isinstance(item, Drop):
                    return
                elif reader.feed(item):
                    self._dirty = True  # content after the end marker
            if not self._items:
                reader.eof()
        except Exception:  # a malformed or cut framing only costs the reuse
            pass

    def nonblocking_socket(self) -> tuple[socket.socket, bytes] | None:
        return None  # no socket: the worker reads this body on its own thread

    def restore_blocking(self, sock: socket.socket) -> None:
        pass

    def feed_raw(self, data: bytes) -> bytes:
        if data:
            return self._reader.feed(data)
        self._reader.eof()
        return b""

    def close(self) -> None:
        self._token.detach()
        self.closed = True
