"""Serialise one event (or a comment) to ``text/event-stream`` bytes.

The output is the shortest form that a spec-following decoder (ours
included) reads back as the same event: ``decode(encode(e)) == e`` for a
fresh decoder, except that CR and CRLF inside ``data`` come back as LF, the
only line end SSE can carry inside data, and that a lone surrogate (a ``str``
can hold ``"\\ud800"``, UTF-8 cannot) comes back as U+FFFD.
"""

from __future__ import annotations

from ._event import ServerSentEvent

__all__ = ["encode"]


def _lines(text: str) -> list[str]:
    """Split on exactly the line ends SSE knows (CRLF, LF, CR), nothing else."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


def _utf8(text: str) -> bytes:
    """``text`` as UTF-8, a lone surrogate becoming U+FFFD instead of an error.

    Only called after a plain ``encode`` failed: chunks built by user code
    (our codecs already replace them) may carry one, and a web response must
    not die on it. UTF-16 joins what pairs up and replaces what does not.
    """
    fixed = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return fixed.encode("utf-8")


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
        data, event_type, id, retry = _merge(event, data, event_type, id, retry)
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
        if not data:
            return b"data:\n\n"
        try:
            return b"data: " + data.encode("utf-8") + b"\n\n"
        except UnicodeEncodeError:  # a lone surrogate: the rare path
            return b"data: " + _utf8(data) + b"\n\n"
    text = _field_lines(data, event_type, id, retry, comment)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _utf8(text)


def _merge(
    event: ServerSentEvent, data: str | None, event_type: str | None, id: str | None,
    retry: int | None,
) -> tuple[str | None, str | None, str | None, int | None]:
    """The event's fields, each overridden by a keyword given for it."""
    return (
        event.data if data is None else data,
        event.event if event_type is None else event_type,
        (event.id or None) if id is None else id,
        event.retry if retry is None else retry,
    )


def _field_lines(
    data: str | None, event_type: str | None, id: str | None, retry: int | None,
    comment: str | None,
) -> str:
    """The text of an event with any fields (the general, slower path)."""
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
    return "\n".join(parts)
