"""HTTP/1.1 message bodies, sans-I/O: one reader per framing, chosen once.

In the manner of h11's reader table, the response head decides once how its
body is framed (RFC 9112 §6.3), and ``reader_for`` returns the reader for it:

* ``ChunkedBody``: ``Transfer-Encoding: chunked``, the strict ``Dechunker``;
* ``LengthBody``: ``Content-Length``, a count of the bytes left;
* ``CloseBody``: neither, the body ends when the server closes.

Every reader mode (the worker's own blocking reads, the shared reader
thread's non-blocking ones, the fake transport) feeds the same reader, so
the framing is written once. The interface is small:

* ``feed(data)`` takes bytes read off the connection (never b"") and returns
  the payload they carry (often all of them, sometimes b"");
* ``eof()`` says the connection closed: it raises ``StreamConnectionError``
  when the framing says the body was not over;
* ``done`` is True once the body ended;
* ``surplus`` holds bytes received after the end of the body. They belong
  to no request of ours: a connection that received any is not reused.

Bytes beyond the ``Content-Length`` in the read that ends the body are a
``ProtocolError`` (a server that miscounts its own body), as a malformed
chunked framing is.
"""

from __future__ import annotations

from typing import Protocol

from ..errors import ProtocolError, StreamConnectionError
from ._chunked import Dechunker

__all__ = ["BodyReader", "ChunkedBody", "CloseBody", "LengthBody", "reader_for"]

_PAYLOAD = 100


class BodyReader(Protocol):
    """What every body reader offers (see the module docstring)."""

    @property
    def done(self) -> bool:
        """True once the body ended."""
        ...

    @property
    def surplus(self) -> bytes:
        """Bytes received after the end of the body (never payload)."""
        ...

    def feed(self, data: bytes) -> bytes:
        """The payload carried by ``data`` (bytes read off the connection)."""
        ...

    def eof(self) -> None:
        """The connection closed; ``StreamConnectionError`` if the body was
        not over."""
        ...


class ChunkedBody(Dechunker):
    """A chunked body: the strict ``Dechunker`` with ``eof()``.

    A subclass rather than a wrapper so that ``feed`` is the de-chunker's own
    (the hot path of every chunked stream gains no call).
    """

    __slots__ = ()

    def eof(self) -> None:
        if not self.done:
            raise StreamConnectionError("connection closed before the end of the chunked body")


class LengthBody:
    """A body of ``Content-Length`` bytes."""

    __slots__ = ("_left", "done", "surplus")

    def __init__(self, length: int) -> None:
        if length < 0:
            raise ValueError(f"a Content-Length is never negative, got {length}")
        self._left = length
        #: True once ``length`` bytes arrived (at once for an empty body).
        self.done = length == 0
        #: Bytes received after the end of the body (never payload).
        self.surplus = b""

    def feed(self, data: bytes) -> bytes:
        left = self._left
        size = len(data)
        if size < left:
            self._left = left - size
            return data
        if self.done:
            self.surplus += data
            return b""
        if size > left:
            raise ProtocolError(
                f"the server sent {size - left} bytes more than its Content-Length",
                payload=data[left:][:_PAYLOAD].decode("latin-1"))
        self._left = 0
        self.done = True
        return data

    def eof(self) -> None:
        if not self.done:
            raise StreamConnectionError(
                f"connection closed with {self._left} body bytes missing")


class CloseBody:
    """A body delimited by the end of the connection (no length, not chunked).

    Every byte is payload; the body is done, cleanly, when the server closes.
    """

    __slots__ = ("done", "surplus")

    def __init__(self) -> None:
        self.done = False
        self.surplus = b""

    def feed(self, data: bytes) -> bytes:
        return data

    def eof(self) -> None:
        self.done = True


def reader_for(chunked: bool, length: int | None) -> BodyReader:
    """The reader of a body framed as its response head says: chunked
    (whatever the length says: RFC 9112 §6.3 lets chunked win), else a
    ``Content-Length``, else until the connection closes."""
    if chunked:
        return ChunkedBody()
    if length is not None:
        return LengthBody(length)
    return CloseBody()
