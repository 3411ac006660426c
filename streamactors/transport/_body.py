"""The body of a streamed HTTP response over requests, read as it arrives.

Theory of operation
-------------------
* The response head decides once how the body is framed, and the body holds
  the one ``_wire`` reader for it (chunked, ``Content-Length``, until close):
  the worker's blocking reads (``read``) and the shared reader thread's
  non-blocking ones (``feed_raw``) go through the same reader.
* Our reads go straight to the socket file under urllib3 (``read1``, one
  call per burst, not one urllib3 call per HTTP chunk); ``_internals`` finds
  that file. Where it cannot (versions it does not know, a mocked response),
  urllib3 reads and de-frames the body itself, and the reader sees a body
  that ends when urllib3 says so.
* Bytes after the end of the body (an answer the server sent unasked) are
  never payload: the connection is then not reused. Bytes beyond a
  ``Content-Length`` in the read that ends the body are a ``ProtocolError``.
* A compressed body (a server that compresses although we asked for
  ``identity``) is inflated at most ``_READ_SIZE`` bytes at a time: what a
  read inflates to goes to the framer and the target piece by piece, so the
  event size limit and a bounded target hold however much it inflates. It is
  always read by its own worker thread, never by the shared reader: one read
  can inflate to megabytes of events.
* The connection goes back to the pool only when the body was read to its
  end, nothing unread follows it and the stream was not cancelled; on any
  failure or cancel it is closed.
"""

from __future__ import annotations

import socket
import ssl
import zlib
from collections.abc import Callable
from typing import Any

import requests
import urllib3.exceptions

from .._wire._bodies import BodyReader, CloseBody, reader_for
from ..errors import (
    ProtocolError,
    ReadTimeout,
    StreamCancelled,
    StreamConnectionError,
    StreamError,
)
from . import _internals as internals
from ._base import Body as Body  # the protocol, importable from here as before
from ._cancel import CancelToken

__all__ = ["Body", "RequestsBody", "map_read_error"]

_READ_SIZE = 65536


def _inflater(headers: Any) -> Any:
    """A zlib decompressor for the body's ``Content-Encoding``, or None."""
    encoding = headers.get("content-encoding", "").lower().strip()
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    return None


class RequestsBody:
    """The body of a streaming response, read as it arrives (implements
    ``Body``).

    ``read()`` returns the next payload bytes (at least one) or b"" at the
    end of the body. A body that was not read to its clean end is never
    reused.
    """

    def __init__(self, response: requests.Response, token: CancelToken) -> None:
        # Only urllib3's response is kept, not requests' around it (with its
        # prepared request, two cookie jars and two header dicts): a live
        # stream's objects are walked by every full garbage collection.
        self._raw = raw = response.raw
        self._token = token
        self._dirty = False  # content arrived after the provider's end marker
        self._inflate: Any = _inflater(response.headers)
        self._timeout: float | None = None
        found = internals.socket_file(raw)
        self._reader: BodyReader
        self._read1: Callable[[int], bytes]
        if found is None:
            # urllib3 de-frames the body itself; it ends where urllib3 says.
            self._file: Any = None
            self._read1 = lambda size: raw.read1(size, decode_content=False)
            self._reader = CloseBody()
        else:
            self._file = found.file
            self._read1 = found.file.read1
            self._reader = reader_for(found.chunked, found.length)

    @property
    def finished(self) -> bool:
        """True once the body was read to its end."""
        return self._reader.done

    @property
    def reusable(self) -> bool:
        """True when the connection may serve another request."""
        reader = self._reader
        return (reader.done and not reader.surplus and not self._dirty
                and not self._token.cancelled)

    # -- reads by the worker thread ---------------------------------------------

    def read(self) -> bytes:
        """The next payload bytes (inflated when compressed); b"" at the end."""
        inflate = self._inflate
        if inflate is None:
            return b"" if self._reader.done else self._read_framed()
        while True:
            if inflate.unconsumed_tail:
                data = self._inflate_some(b"")
            elif self._reader.done:
                return b""
            else:
                data = self._inflate_some(self._read_framed())
            if data or self._reader.done:
                return data

    def _read_framed(self) -> bytes:
        """The payload of the next read(s) off the connection, at least one
        byte, or b"" at the end of the body."""
        reader, read1 = self._reader, self._read1
        try:
            while True:
                data = read1(_READ_SIZE)
                if not data:
                    reader.eof()
                    return b""
                payload = reader.feed(data)
                if payload or reader.done:
                    return payload
        except StreamError:
            raise
        except Exception as exc:
            raise map_read_error(exc, self._token) from None

    def finish_within(self, seconds: float) -> None:
        """Read what completes the framing of a body whose content already
        ended (the end marker came): for up to ``seconds``, then give up, which
        only means the connection is not reused."""
        sock = self._socket()
        reader = self._reader
        if reader.done or sock is None:
            return
        timeout = sock.gettimeout()
        try:
            sock.settimeout(seconds)
            while not reader.done:
                data = self._read1(_READ_SIZE)
                if not data:
                    reader.eof()
                elif reader.feed(data):
                    self._dirty = True  # content after the end marker
        except (OSError, StreamError, ValueError):
            pass
        finally:
            try:
                sock.settimeout(timeout)
            except OSError:
                pass

    # -- reads by the shared reader thread ------------------------------------------

    def nonblocking_socket(self) -> tuple[socket.socket, bytes] | None:
        """Switch the body to reads by the shared reader.

        Returns the socket, now non-blocking, with the body bytes the socket
        file had already buffered; None when this body cannot be read that
        way (urllib3's own read path, no plain socket under it, or a
        compressed body). The socket goes back to blocking in
        ``restore_blocking``.
        """
        sock = self._socket()
        if sock is None or self._inflate is not None:
            # A compressed body stays on its own thread: one read can inflate
            # to megabytes of events, too much for one turn of the reader.
            return None
        self._timeout = sock.gettimeout()
        sock.setblocking(False)
        try:
            # One read1 empties the file's buffer (smaller than 64 KiB); with
            # a non-blocking socket it never waits. b"" is "nothing buffered"
            # or EOF: the selector tells which.
            buffered = self._read1(_READ_SIZE) or b""
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
            buffered = b""
        return sock, buffered

    def restore_blocking(self, sock: socket.socket) -> None:
        """Give the socket its blocking read timeout back (before reuse)."""
        try:
            sock.settimeout(self._timeout)
        except OSError:
            pass

    def feed_raw(self, data: bytes) -> bytes:
        """Payload from bytes the shared reader read off the socket (b"" means
        EOF); ``finished`` turns True at the end of the body. (Never
        compressed: see ``nonblocking_socket``.)

        Raises:
            StreamConnectionError: EOF before the end of a framed body.
            ProtocolError: malformed framing.
        """
        if data:
            return self._reader.feed(data)
        self._reader.eof()
        return b""

    # -- compression, the socket, release -----------------------------------------

    def _inflate_some(self, data: bytes) -> bytes:
        """At most ``_READ_SIZE`` bytes inflated from ``data`` (after what an
        earlier call left in ``unconsumed_tail``)."""
        inflate = self._inflate
        try:
            tail = inflate.unconsumed_tail
            out: bytes = inflate.decompress(tail + data if tail else data, _READ_SIZE)
            if self._reader.done and not inflate.unconsumed_tail:
                out += inflate.flush()
        except zlib.error as exc:
            raise ProtocolError(f"the compressed body is corrupt: {exc}") from None
        return out

    def _socket(self) -> socket.socket | None:
        """The plain socket under the socket file, if we read it ourselves."""
        return None if self._file is None else internals.socket_of(self._file)

    def close(self) -> None:
        """Release the connection: back to the pool if the body was read to its
        clean end, otherwise closed (never reused)."""
        self._token.detach()
        raw = self._raw
        try:
            if self.reusable:
                internals.release(raw)
            else:
                raw.close()
                # What requests' Response.close() does next: the pool gets
                # its (closed) connection back, so no slot of it is lost.
                raw.release_conn()
        except Exception:
            pass


def map_read_error(exc: BaseException, token: CancelToken) -> StreamError:
    """Our error for what a body read raised (the cancel's, if cancelled)."""
    if token.cancelled:
        return StreamCancelled(reason=token.reason or "cancelled")
    if isinstance(exc, (socket.timeout, TimeoutError)) or internals.is_read_timeout(exc):
        return ReadTimeout("no data from the server within the read timeout")
    if isinstance(exc, (OSError, urllib3.exceptions.HTTPError, requests.RequestException)):
        return StreamConnectionError(f"connection failed while reading the stream: {exc}")
    return StreamConnectionError(f"reading the stream failed: {exc!r}")
