"""The transport seam: what a stream's worker needs from HTTP, as protocols.

A worker sends one request and reads one streamed response through these
three protocols and nothing else, so any implementation can stand in:
``RequestsTransport`` (``_requests``: requests and urllib3, the default) or
``FakeTransport`` (``fake``: scripted or recorded bytes, no sockets).

The body offers two ways of reading, and the worker picks one per stream:

* blocking reads on the worker's thread: ``read()`` until b"";
* reads by the shared reader thread (``Transport.reactor``): the body hands
  over its socket (``nonblocking_socket()``; None when it has none, which
  keeps the stream on the first way), the reader passes each read to
  ``feed_raw(data)`` (b"" at EOF) until ``finished``, and
  ``restore_blocking(sock)`` ends the hand-over.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import socket

    from ..providers._base import HTTPRequest
    from ._cancel import CancelToken
    from ._reactor import Reactor
    from ._timeouts import Timeout

__all__ = ["MAX_ERROR_BODY", "Body", "Response", "Transport"]

#: The most ``Response.read_all`` returns by default (an error body).
MAX_ERROR_BODY = 1024 * 1024


class Body(Protocol):
    """A streamed response body, read as it arrives.

    A body that was not read to its clean end (an error, a cancel, bytes
    after its end) is never reused: ``close()`` discards its connection.
    """

    @property
    def finished(self) -> bool:
        """True once the body was read to its end."""
        ...

    @property
    def reusable(self) -> bool:
        """True when the connection may serve another request."""
        ...

    def read(self) -> bytes:
        """The next payload bytes, at least one; b"" at the end of the body.

        Raises:
            StreamError: ``ReadTimeout``, ``StreamConnectionError`` (a drop),
                ``ProtocolError`` (malformed framing), ``StreamCancelled``.
        """
        ...

    def nonblocking_socket(self) -> tuple[socket.socket, bytes] | None:
        """The socket, switched to non-blocking, and the body bytes already
        buffered; None when this body cannot be read by the shared reader."""
        ...

    def restore_blocking(self, sock: socket.socket) -> None:
        """Give the socket back its blocking read timeout."""
        ...

    def feed_raw(self, data: bytes) -> bytes:
        """The payload in bytes the shared reader read (b"" means EOF)."""
        ...

    def finish_within(self, seconds: float) -> None:
        """Read, for up to ``seconds``, what completes the framing after the
        content ended (so the connection can be reused); never raises."""
        ...

    def close(self) -> None:
        """Release the connection (pooled only if ``reusable``)."""
        ...


class Response(Protocol):
    """The head of a stream's HTTP response, and its body."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Header names in lower case."""
        ...

    @property
    def body(self) -> Body: ...

    def read_all(self, limit: int = MAX_ERROR_BODY) -> bytes:
        """The rest of the body, up to ``limit`` bytes (for error bodies)."""
        ...

    def close(self) -> None:
        """Release the connection (see ``Body.close``)."""
        ...


class Transport(Protocol):
    """Sends a stream's request; shared by the streams of one ``Client``."""

    @property
    def reactor(self) -> Reactor | None:
        """The shared reader thread that reads bodies, or None (every body is
        read by its own worker)."""
        ...

    def send(self, request: HTTPRequest, timeout: Timeout, token: CancelToken) -> Response:
        """Send ``request``; return once the response head arrived.

        ``token.cancel()`` from another thread must end a blocked send (and
        later reads of the body) at once.

        Raises:
            StreamError: ``StreamCancelled``, ``ConnectTimeout``,
                ``ReadTimeout``, ``StreamConnectionError`` (retryable unless it
                says otherwise), ``ProtocolError``.
        """
        ...

    def close(self) -> None:
        """Close idle pooled connections (running streams keep theirs)."""
        ...


def read_all(body: Body, limit: int = MAX_ERROR_BODY) -> bytes:
    """The rest of ``body``, up to ``limit`` bytes: ``Response.read_all`` for
    any implementation."""
    parts = []
    size = 0
    while size < limit:
        data = body.read()
        if not data:
            break
        parts.append(data)
        size += len(data)
    return b"".join(parts)[:limit]
