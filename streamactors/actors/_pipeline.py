"""One stream's sans-I/O pipeline: framing -> codec -> delivery.

The same object serves both readers: the worker thread pushes what it read,
or the reactor pushes what it read on the worker's behalf. It does no I/O and
keeps no clock; ``deliver`` (the worker's) folds each batch into the
accumulator once the target took it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._chunk import Chunk
from ..ndjson import NDJSONDecoder
from ..providers import StreamDecoder
from ..sse import SSEDecoder

__all__ = ["Pipeline"]


class Pipeline:
    """One stream's sans-I/O pipeline: framing (SSE or NDJSON) -> codec ->
    ``deliver`` (which folds into the accumulator), one batch per read."""

    __slots__ = ("_deliver", "_feed", "_feed_one", "_frame", "_framer", "_sse", "decoder")

    def __init__(self, decoder: StreamDecoder, sse: bool, max_event_bytes: int,
                 deliver: Callable[[list[Chunk]], None]) -> None:
        self.decoder = decoder
        self._feed = decoder.feed
        self._sse = sse
        framer: SSEDecoder | NDJSONDecoder = (
            SSEDecoder(max_event_bytes) if sse else NDJSONDecoder(max_event_bytes))
        self._framer = framer
        self._frame = framer.feed
        # A paced stream's read is one whole ``data:`` event: its data goes
        # straight to the codec, with no event object in between.
        self._feed_one = framer.feed_one if isinstance(framer, SSEDecoder) else None
        self._deliver = deliver

    def push(self, payload: bytes) -> None:
        """Frame, decode and deliver the payload of one read."""
        if self._feed_one is not None:
            text = self._feed_one(payload)
            if text is not None:
                batch = self._feed(text, "message")
                if batch:
                    self._deliver(batch)
                return
        events = self._frame(payload)
        if events:
            self._decode(events)

    def close(self) -> None:
        """The end of the body: decode what the framer still held."""
        tail = self._framer.close()
        if tail:
            self._decode(tail)

    def _decode(self, events: list[Any]) -> None:
        feed = self._feed
        if self._sse and len(events) == 1:  # a paced stream: one event per read
            ev = events[0]
            batch: list[Chunk] = feed(ev.data, ev.event)
        else:
            batch = []
            try:
                self._decode_all(events, batch)
            except BaseException:
                if batch:  # what was decoded before the failure goes first
                    self._deliver(batch)
                raise
        if batch:
            self._deliver(batch)

    def _decode_all(self, events: list[Any], batch: list[Chunk]) -> None:
        # Nothing after the end marker belongs to the answer.
        feed, extend, decoder = self._feed, batch.extend, self.decoder
        if self._sse:
            for ev in events:
                extend(feed(ev.data, ev.event))
                if decoder.done:
                    return
        else:
            for line in events:
                extend(feed(line))
                if decoder.done:
                    return
