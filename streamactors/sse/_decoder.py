"""Incremental, sans-I/O decoder of ``text/event-stream`` bodies.

Theory of operation
-------------------
This follows the WHATWG HTML "event stream interpretation" algorithm (see
``WIRE-FORMATS.md`` section 12) exactly, while keeping the common case, an
LLM stream of ``data: {...json...}\\n\\n`` events, close to the cost of one
``bytes.split`` and one ``bytes.decode`` per event.

* Lines come from the shared ``_wire._lines.LineSplitter`` (CR, LF and CRLF
  line ends, a CR ending one read and a LF opening the next counted once,
  the incomplete line held in pieces, one BOM removed at the very start).
  Bytes stay bytes until a whole line (or a whole event's data) is known,
  then are decoded with ``errors="replace"``; lines are only cut at ASCII
  CR or LF, so decoding per line is the same as decoding the whole stream.
* Size limit: at every point the raw bytes of the pending event's ``data``
  lines plus the bytes of the current line (complete or not) must stay within
  ``max_event_bytes``. The measure only grows while an event is pending, so
  whether it is exceeded does not depend on how the input was split. When it
  is exceeded, the events completed earlier in the same ``feed`` are still
  returned and the ``ProtocolError`` is raised by the next call (``feed`` or
  ``close``); if there are none it is raised at once. The error is sticky.
* Two shortcuts take a read that is exactly one whole event while nothing is
  pending (``_ready``), the way a paced server sends them: ``feed_one`` (one
  ``data:`` line; returns its data, builds no event) for readers that call it
  first, and inside ``feed`` the ``event:`` + ``data:`` form (Anthropic, the
  OpenAI Responses API), which ``feed_one`` never takes, so no read is
  examined twice. Either gives what the general path would give.
* The hot loop recognises ``data: `` lines and blank lines with byte
  comparisons and builds events by setting their slots directly rather than
  through the frozen dataclass' ``__init__``, which costs twice as much and
  would otherwise be a large part of the cost of an event.
"""

from __future__ import annotations

from typing import Any

from .._wire._lines import DEFAULT_MAX_BYTES, LineSplitter
from ..errors import ProtocolError
from ._event import ServerSentEvent

__all__ = ["DEFAULT_MAX_EVENT_BYTES", "SSEDecoder"]

#: Default limit of one pending event (data lines plus the current line), in bytes.
DEFAULT_MAX_EVENT_BYTES = DEFAULT_MAX_BYTES

_PAYLOAD_BYTES = 256

# Setting a frozen slotted dataclass' slots directly costs half of its
# __init__, on the path of every event. Same result, same class.
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
    at the end of the body. One decoder per stream. A reader of paced streams
    (one event per read) calls ``feed_one`` first and ``feed`` when it declines.
    """

    __slots__ = (
        "_data",
        "_error",
        "_event",
        "_event_retry",
        "_id",
        "_last_event_id",
        "_lines",
        "_max",
        "_ready",
        "_retry",
        "_size",
    )

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        if max_event_bytes < 1:
            raise ValueError("max_event_bytes must be positive")
        self._max = max_event_bytes
        self._lines = LineSplitter(any_end=True)
        # Nothing pending anywhere (no line, data, type or retry; the BOM
        # decided; no error): a read of one whole event may take a shortcut.
        self._ready = False
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

    def feed_one(self, data: bytes) -> str | None:
        """The data of ``data`` when it is one whole ``message`` event, else None.

        The fast path of a paced stream, whose every read is one event: when
        ``data`` is exactly one ``data: ...`` line and a blank line (both
        ended by LF, or both by CRLF), nothing else, and nothing is pending,
        return the event's data with the decoder's state updated as ``feed``
        would, without building an event. Otherwise return None and change
        nothing: pass ``data`` to ``feed``. ``data`` must be ``bytes``.
        """
        # The prefix first: a read this path declines (an ``event:`` line, a
        # comment) costs one comparison before ``feed`` takes it.
        if data[:6] != b"data: " or not self._ready:
            return None
        if data[-2:] == b"\n\n":
            end = len(data) - 2
            if data.find(b"\n") != end or 13 in data:  # 13: CR, an int is faster
                return None
        elif data[-4:] == b"\r\n\r\n":  # Gemini ends its lines so
            end = len(data) - 4
            if data.find(b"\r") != end or data.find(b"\n") != end + 1:
                return None
        else:
            return None
        if end > self._max:
            return None
        self._last_event_id = self._id
        return data[6:end].decode("utf-8", "replace")

    def feed(self, data: bytes | bytearray | memoryview) -> list[ServerSentEvent]:
        """Take the next bytes of the stream; return the events they completed.

        Raises ``ProtocolError`` when the pending event exceeds
        ``max_event_bytes`` (see the module docstring for when exactly).
        """
        if self._error is not None:
            raise self._error
        if type(data) is not bytes:
            data = bytes(data)
        if self._ready and data[:7] == b"event: " and data[-2:] == b"\n\n":
            event = self._typed_event(data)
            if event is not None:
                return [event]
        lines = self._lines
        events: list[ServerSentEvent] = []
        try:
            complete = lines.split(data)
            if complete:
                self._process(complete, events)
            if self._size + lines.pending > self._max:
                raise _oversize(self._max, self._data[0] if self._data else lines.head())
        except ProtocolError as exc:
            self._error = exc
            self._ready = False
            if events:
                return events
            raise
        self._ready = (lines.idle and not self._data and not self._event
                       and self._event_retry is None)
        return events

    def _typed_event(self, data: bytes) -> ServerSentEvent | None:
        """``feed``'s shortcut for a read that is exactly ``event: ...``, then
        ``data: ...``, then a blank line, with LF line ends, while ``_ready``;
        None sends it the general way."""
        end = len(data) - 2
        first = data.find(b"\n")
        if (first > self._max or data.find(b"\n", first + 1) != end
                or data[first + 1 : first + 7] != b"data: " or end - first - 1 > self._max
                or 13 in data):
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
        self._lines.end()
        self._ready = False  # the new stream's first read decides its BOM
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
            retry = _retry_value(value)
            if retry is not None:
                self._retry = self._event_retry = retry
        return size


def _retry_value(value: bytes) -> int | None:
    """The value of a ``retry`` field, or None when the field is to be ignored."""
    # bytes.isdigit() is ASCII-only; strip zeros so int() never meets more
    # digits than it accepts unless the value is truly huge.
    if not value.isdigit():
        return None
    try:
        return int(value.lstrip(b"0") or b"0")
    except ValueError:
        return None  # more digits than int() accepts: ignore the field
