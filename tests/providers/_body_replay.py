"""Replay recorded bytes through framing -> codec -> accumulator, no sockets."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from streamactors import Chunk, StreamResult
from streamactors.accumulate import Accumulator
from streamactors.errors import StreamError
from streamactors.ndjson import NDJSONDecoder
from streamactors.providers import Provider, RequestInput, StreamDecoder
from streamactors.sse import ServerSentEvent, SSEDecoder


@dataclass
class Replay:
    chunks: list[Chunk] = field(default_factory=list)
    result: StreamResult | None = None
    error: StreamError | None = None
    complete: bool = False


def _decode(decoder: StreamDecoder, event: ServerSentEvent | str) -> list[Chunk]:
    if isinstance(event, ServerSentEvent):
        return decoder.feed(event.data, event.event)
    return decoder.feed(event)


def replay(provider: Provider, data: bytes, pieces: Sequence[int] = ()) -> Replay:
    """Feed ``data`` (split at the offsets in ``pieces``) through ``provider``."""
    framer: SSEDecoder | NDJSONDecoder = (
        SSEDecoder() if provider.framing == "sse" else NDJSONDecoder())
    decoder = provider.new_decoder(RequestInput())
    acc = Accumulator(provider.name)
    out = Replay()
    bounds = [0, *pieces, len(data)]
    try:
        for a, b in itertools.pairwise(bounds):
            for ev in framer.feed(data[a:b]):
                for c in _decode(decoder, ev):
                    acc.add(c)
                    out.chunks.append(c)
        for ev in framer.close():
            for c in _decode(decoder, ev):
                acc.add(c)
                out.chunks.append(c)
    except StreamError as exc:
        out.error = exc
    out.result = acc.result()
    out.complete = acc.complete
    return out
