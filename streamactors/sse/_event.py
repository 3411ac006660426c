"""The one value the SSE layer produces and consumes: a dispatched event."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ServerSentEvent"]


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One event of a ``text/event-stream``, as the WHATWG algorithm dispatches it.

    Immutable so it can be handed across threads and kept in results without
    copying. Don't subclass it: equality requires the exact class.

    Attributes:
        event: the event type; ``"message"`` when the event had no ``event``
            field (or an empty one).
        data: the ``data`` lines of the event joined with ``"\\n"``.
        id: the last event ID in force when the event was dispatched. Per the
            spec it persists across events until an ``id`` field changes it,
            so it is ``""`` only if no ``id`` was ever set (or it was reset).
        retry: the reconnection time in milliseconds if a valid ``retry``
            field was part of this event, else None.
    """

    event: str = "message"
    data: str = ""
    id: str = ""
    retry: int | None = None
