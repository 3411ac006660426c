"""Serialise one event (or a comment) to ``text/event-stream`` bytes.

The output is the shortest form that a spec-following decoder (ours
included) reads back as the same event: ``decode(encode(e)) == e`` for a
fresh decoder, except that CR and CRLF inside ``data`` come back as LF, the
only line end SSE can carry inside data.
"""

from __future__ import annotations

from ._event import ServerSentEvent

__all__ = ["encode"]


def _lines(text: str) -> list[str]:
    """Split on exactly the line ends SSE knows (CRLF, LF, CR), nothing else."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


def _single_line(name: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError(f"an SSE {name} cannot contain CR or LF: {value!r}")
    return value


def encode(
    event: ServerSentEvent | None = None,
    *,
    data: str | None = None,
    event_type: str | None = None,
    id: str | None = None,
    retry: int | None = None,
    comment: str | None = None,
) -> bytes:
    """The bytes of one event, terminated by a blank line.

    Either pass a ``ServerSentEvent`` or the fields as keywords; keywords
    given next to an event override its fields. ``data`` is split into one
    ``data:`` line per line; the type ``"message"`` (the default) is not
    written; an event's empty ``id`` is not written, while an explicit
    ``id=""`` is (it resets the client's last event ID). ``comment`` lines
    come first; a comment alone (``encode(comment="ping")``) makes a
    keep-alive that dispatches nothing.

    Raises ``ValueError`` for an event type or id containing CR or LF, an id
    containing NUL (a decoder would ignore it), a negative or non-int
    ``retry``, or nothing to encode.
    """
    if event is not None:
        if data is None:
            data = event.data
        if event_type is None:
            event_type = event.event
        if id is None and event.id:
            id = event.id
        if retry is None:
            retry = event.retry
    if event_type == "message" or event_type == "":
        event_type = None  # the default type is never written
    # Fast path: the shape every LLM re-emission uses.
    if (
        event_type is None
        and id is None
        and retry is None
        and comment is None
        and data is not None
        and "\n" not in data
        and "\r" not in data
    ):
        return b"data: " + data.encode("utf-8") + b"\n\n" if data else b"data:\n\n"

    parts: list[str] = []
    if comment is not None:
        parts.extend(f": {line}" if line else ":" for line in _lines(comment))
    if event_type is not None:
        parts.append("event: " + _single_line("event type", event_type))
    if id is not None:
        if "\x00" in id:
            raise ValueError("an SSE id cannot contain NUL")
        parts.append("id: " + _single_line("id", id) if id else "id")
    if retry is not None:
        if type(retry) is not int or retry < 0:
            raise ValueError(f"retry must be a non-negative int, not {retry!r}")
        parts.append(f"retry: {retry}")
    if data is not None:
        parts.extend(f"data: {line}" if line else "data:" for line in _lines(data))
    if not parts:
        raise ValueError("nothing to encode: give an event, data, a field or a comment")
    parts.append("\n")
    return "\n".join(parts).encode("utf-8")
