"""Test helpers for the provider codecs: frame recorded bodies with the
library's own SSE / NDJSON decoders, feed the codec, fold the chunks with the
library's ``Accumulator``.

Recorded streams live in ``tests/data/recorded`` (see its README).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from streamactors._chunk import Chunk
from streamactors._result import StreamResult
from streamactors.accumulate import Accumulator
from streamactors.errors import StreamError
from streamactors.ndjson import NDJSONDecoder
from streamactors.providers._base import StreamDecoder
from streamactors.sse import SSEDecoder

from .. import _data

RECORDED = _data.RECORDED


def recorded(relative: str) -> bytes:
    """The bytes of a recorded stream."""
    return (RECORDED / relative).read_bytes()


def recorded_names(provider: str) -> list[str]:
    """``provider/<file>`` of every recorded stream of a provider (empty if absent)."""
    folder = RECORDED / provider
    if not folder.is_dir():
        return []
    return sorted(f"{provider}/{p.name}" for p in folder.iterdir() if p.is_file())


def _pieces(body: bytes, size: int | None) -> list[bytes]:
    return [body[i:i + size] for i in range(0, len(body), size)] if size else [body]


def sse_events(body: bytes, piece: int | None = None) -> list[tuple[str, str]]:
    """(event name, data) of every event of an SSE body, fed whole or in
    reads of ``piece`` bytes."""
    decoder = SSEDecoder()
    events = []
    for part in _pieces(body, piece):
        events.extend(decoder.feed(part))
    events.extend(decoder.close())
    return [(e.event, e.data) for e in events]


def ndjson_lines(body: bytes, piece: int | None = None) -> list[tuple[str, str]]:
    """("message", line) of every line of an NDJSON body."""
    decoder = NDJSONDecoder()
    lines = []
    for part in _pieces(body, piece):
        lines.extend(decoder.feed(part))
    lines.extend(decoder.close())
    return [("message", line) for line in lines]


@dataclass
class Replay:
    """What replaying one stream produced."""

    chunks: list[Chunk] = field(default_factory=list)
    error: StreamError | None = None
    #: how many events were fed (including the one that raised).
    fed: int = 0
    acc: Accumulator = field(default_factory=Accumulator)

    @property
    def result(self) -> StreamResult:
        return self.acc.result()


def replay(decoder: StreamDecoder, events: list[tuple[str, str]]) -> Replay:
    """Feed events in order, folding chunks; stop at the first error raised."""
    out = Replay()
    for name, data in events:
        out.fed += 1
        try:
            chunks = decoder.feed(data, name)
        except StreamError as exc:
            out.error = exc
            break
        for chunk in chunks:
            out.chunks.append(chunk)
            out.acc.add(chunk)
    return out


def replay_body(decoder: StreamDecoder, body: bytes, piece: int | None = None) -> Replay:
    """Replay an SSE body through ``decoder`` (see ``sse_events``)."""
    return replay(decoder, sse_events(body, piece))


def lines(*payloads: dict[str, Any]) -> list[tuple[str, str]]:
    """Hand-written NDJSON lines."""
    return [("message", json.dumps(p)) for p in payloads]
