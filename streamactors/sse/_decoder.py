"""Incremental, sans-I/O decoder of ``text/event-stream`` bodies.

Theory of operation
-------------------
This follows the WHATWG HTML "event stream interpretation" algorithm (see
``WIRE-FORMATS.md`` section 12) exactly, while keeping the common case, an
LLM stream of ``data: {...json...}\\n\\n`` events, close to the cost of one
``bytes.split`` and one ``bytes.decode`` per event.

* Bytes are kept as bytes until a whole line (or a whole event's data) is
  known, then decoded with ``errors="replace"``. Lines are only ever cut at
  CR or LF, which are ASCII and never part of a multi-byte UTF-8 sequence, so
  decoding per line is the same as decoding the whole stream first: a
  character split across two reads is simply joined before it is decoded.
* Line ends: a read without CR is cut with ``split(b"\\n")``; a read with a CR
  with ``bytes.splitlines()``, which knows exactly CR, LF and CRLF (unlike
  ``str.splitlines()``, it ignores VT, FF, NEL and U+2028). A CR that is the
  last byte of a read already ended its line; if the next read starts with
  LF, that LF is the second half of the same CRLF and is dropped
  (``_skip_lf``).
* The incomplete last line of a read is held as a list of pieces, joined
  only once its end arrives, so a peer sending an endless line costs linear
  time and hits the size limit instead of growing memory.
* One UTF-8 BOM is removed at the very start of the stream, also when its
  three bytes arrive in separate reads (``_bom``).
* Size limit: at every point the raw bytes of the pending event's ``data``
  lines plus the bytes of the current line (complete or not) must stay within
  ``max_event_bytes``. The measure only grows while an event is pending, so
  whether it is exceeded does not depend on how the input was split. When it
  is exceeded, the events completed earlier in the same ``feed`` are still
  returned and the ``ProtocolError`` is raised by the next call (``feed`` or
  ``close``); if there are none it is raised at once. The error is sticky.
* The hot loop recognises ``data: `` lines and blank lines with byte
  comparisons and builds events by setting their slots directly rather than
  through the frozen dataclass' ``__init__`` (0.25 us instead of 0.5 us,
  which would otherwise be over half the cost of an event).
"""

from __future__ import annotations

from typing import Any

from .._wire._bom import strip_bom
from ..errors import ProtocolError
from ._event import ServerSentEvent

__all__ = ["DEFAULT_MAX_EVENT_BYTES", "SSEDecoder"]

#: Default limit of one pending event (data lines plus the current line), in bytes.
DEFAULT_MAX_EVENT_BYTES = 8 * 1024 * 1024

_PAYLOAD_BYTES = 256

# Building a frozen slotted dataclass through __init__ costs about 0.5 us;
# setting its slots directly costs half that. Same result, same class.
_new: Any = object.__new__
_slots: Any = ServerSentEvent.__dict__
_set_event = _slots["event"].__set__
_set_data = _slots["data"].__set__
_set_id = _slots["id"].__set__
_set_retry = _slots["retry"].__set__


def _event(kind: str, data: str, last_id: str) -> ServerSentEvent:
    event: ServerSentEvent = _new(ServerSentEvent)
    _set_event(event, kind)
    _set_data(event, data)
    _set_id(event, last_id)
    _set_retry(event, None)
    return event


def _oversize(limit: int, head: bytes) -> ProtocolError:
    return ProtocolError(
        f"server-sent event larger than max_event_bytes={limit} bytes"
        " (its data lines plus the current line); payload starts with its first bytes",
        payload=head[:_PAYLOAD_BYTES].decode("utf-8", "replace"),
    )


class SSEDecoder:
    """Turn the bytes of an event stream, in pieces of any size, into events.

    Feed it whatever the socket returned; it returns the events completed by
    those bytes, in order, and never blocks or performs I/O. Call ``close()``
    at the end of the body. One decoder per stream.
    """

    __slots__ = (
        "_at_start",
        "_bom",
        "_data",
        "_error",
        "_event",
        "_event_retry",
        "_id",
        "_last_event_id",
        "_max",
        "_retry",
        "_size",
        "_skip_lf",
        "_tail",
        "_tail_len",
    )

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        if max_event_bytes < 1:
            raise ValueError("max_event_bytes must be positive")
        self._max = max_event_bytes
        self._at_start = True  # no byte of the stream decided yet (BOM check)
        self._bom = b""  # bytes of a possible BOM split across reads
        self._skip_lf = False  # last read ended with CR: drop a leading LF
        self._tail: list[bytes] = []  # pieces of the incomplete current line
        self._tail_len = 0
        self._data: list[bytes] = []  # values of the pending event's data lines
        self._size = 0  # raw bytes of those data lines
        self._event = ""  # event type buffer
        self._event_retry: int | None = None  # valid retry seen in pending event
        self._id = ""  # last event ID buffer
        self._last_event_id = ""  # committed at each blank line
        self._retry: int | None = None  # reconnection time in force
        self._error: ProtocolError | None = None

    @property
    def last_event_id(self) -> str:
        """The stream's last event ID (what ``Last-Event-ID`` would send).

        Per spec it is taken from the ID buffer at each blank line, so an
        ``id`` field in an unterminated event does not count yet.
        """
        return self._last_event_id

    @property
    def retry(self) -> int | None:
        """The reconnection time in milliseconds last set by the server, or None."""
        return self._retry

    def feed(self, data: bytes | bytearray | memoryview) -> list[ServerSentEvent]:
        """Take the next bytes of the stream; return the events they completed.

        Raises ``ProtocolError`` when the pending event exceeds
        ``max_event_bytes`` (see the module docstring for when exactly).
        """
        if self._error is not None:
            raise self._error
        if not data:
            return []
        if type(data) is not bytes:
            data = bytes(data)
        if data[-2:] == b"\n\n":
            event = self._whole_event(data)
            if event is not None:
                return [event]
        if self._at_start:
            started, self._bom = strip_bom(self._bom, data)
            if started is None:
                return []
            self._at_start = False
            data = started
            if not data:
                return []
        if self._skip_lf:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
                if not data:
                    return []
        tail = self._tail
        has_cr = b"\r" in data
        if not has_cr and b"\n" not in data:
            tail.append(data)
            self._tail_len += len(data)
            if self._size + self._tail_len > self._max:
                head = self._data[0] if self._data else tail[0]
                self._error = _oversize(self._max, head)
                raise self._error
            return []
        if tail:
            tail.append(data)
            data = b"".join(tail)
            tail.clear()
            self._tail_len = 0
        if has_cr:
            # bytes.splitlines() knows exactly CR, LF and CRLF. A final CR
            # ends its line now; a LF opening the next read belongs to it.
            lines = data.splitlines()
            last = data[-1]
            if last == 13:
                self._skip_lf = True
                rest = b""
            elif last == 10:
                rest = b""
            else:
                rest = lines.pop()
        else:
            lines = data.split(b"\n")
            rest = lines.pop()
        events: list[ServerSentEvent] = []
        try:
            self._process(lines, events)
            if rest:
                tail.append(rest)
                self._tail_len = len(rest)
            if self._size + len(rest) > self._max:
                head = self._data[0] if self._data else rest
                raise _oversize(self._max, head)
        except ProtocolError as exc:
            self._error = exc
            if events:
                return events
            raise
        return events

    def _feed_data(self, data: bytes) -> str | None:
        """The fast path of a paced stream, without building an event.

        When ``data`` is exactly one whole event made of a single
        ``data: ...`` line (LF line ends, no ``event``/``id``/``retry``
        field, nothing pending), return its data, with the decoder's state
        updated as ``feed`` would; it is the data of a ``message`` event.
        Otherwise return None and change nothing: pass ``data`` to ``feed``.
        """
        # The prefix first: a read this path declines (an ``event:`` line, a
        # comment) costs one comparison before ``feed`` takes it.
        if (data[:6] != b"data: " or data[-2:] != b"\n\n" or self._at_start
                or self._skip_lf or self._tail or self._data or self._event
                or self._event_retry is not None):
            return None
        end = len(data) - 2
        if data.find(b"\n") != end or end > self._max or b"\r" in data:
            return None
        self._last_event_id = self._id
        return data[6:end].decode("utf-8", "replace")

    def _whole_event(self, data: bytes) -> ServerSentEvent | None:
        """``_feed_data``'s fast path for ``feed`` itself, also taking an
        ``event: ...`` line before the data line. None sends ``data`` the
        general way."""
        if data[:7] != b"event: ":
            text = self._feed_data(data)
            return None if text is None else _event("message", text, self._id)
        if (self._at_start or self._skip_lf or self._tail or self._data or self._event
                or self._event_retry is not None):
            return None
        end = len(data) - 2
        first = data.find(b"\n")
        if (first > self._max or data.find(b"\n", first + 1) != end
                or data[first + 1 : first + 7] != b"data: " or end - first - 1 > self._max
                or b"\r" in data):
            return None
        self._last_event_id = self._id
        return _event(data[7:first].decode("utf-8", "replace") or "message",
                      data[first + 7 : end].decode("utf-8", "replace"), self._id)

    def close(self) -> list[ServerSentEvent]:
        """Signal the end of the body; return the events it completed.

        Per spec an event not terminated by a blank line is discarded, so
        this returns ``[]``; it raises a ``ProtocolError`` still owed by the
        last ``feed``. Afterwards the decoder is ready for a new stream
        (a reconnection), with empty buffers as the spec prescribes;
        ``last_event_id`` and ``retry`` keep their values until changed.
        """
        if self._error is not None:
            raise self._error
        self._at_start = True
        self._bom = b""
        self._skip_lf = False
        self._tail.clear()
        self._tail_len = 0
        self._data.clear()
        self._size = 0
        self._event = ""
        self._event_retry = None
        self._id = ""  # per spec each stream starts with empty buffers
        return []

    def _process(self, lines: list[bytes], events: list[ServerSentEvent]) -> None:
        """Interpret complete lines (without their line ends), appending events."""
        data = self._data
        size = self._size
        limit = self._max
        append = events.append
        try:
            for line in lines:
                if line[:6] == b"data: ":
                    data.append(line[6:])
                    size += len(line)
                elif not line:
                    # Blank line: commit the ID, dispatch if any data was seen.
                    last_id = self._id
                    self._last_event_id = last_id
                    if data:
                        if size > limit:
                            raise _oversize(limit, data[0])
                        text = b"\n".join(data).decode("utf-8", "replace")
                        data.clear()
                        event = _new(ServerSentEvent)
                        _set_event(event, self._event or "message")
                        _set_data(event, text)
                        _set_id(event, last_id)
                        _set_retry(event, self._event_retry)
                        append(event)
                    self._event = ""
                    self._event_retry = None
                    size = 0
                elif size + len(line) > limit:
                    raise _oversize(limit, data[0] if data else line)
                elif line[:7] == b"event: ":
                    self._event = line[7:].decode("utf-8", "replace")
                else:
                    size = self._field(line, size)
        finally:
            self._size = size

    def _field(self, line: bytes, size: int) -> int:
        """Apply one non-blank line in its general form; return the new size."""
        colon = line.find(b":")
        if colon == 0:
            return size  # comment
        if colon < 0:
            name, value = line, b""
        else:
            name = line[:colon]
            value = line[colon + 1 :]
            if value[:1] == b" ":
                value = value[1:]
        if name == b"data":
            self._data.append(value)
            return size + len(line)
        if name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\x00" not in value:
                self._id = value.decode("utf-8", "replace")
        elif name == b"retry":
            # bytes.isdigit() is ASCII-only; strip zeros so int() never meets
            # more digits than it accepts unless the value is truly huge.
            if value.isdigit():
                try:
                    self._retry = self._event_retry = int(value.lstrip(b"0") or b"0")
                except ValueError:
                    pass  # more digits than int() accepts: ignore the field
        return size
