"""Test helpers: replay SSE bodies through a codec and fold the chunks.

Recorded streams live beside the repository in ``../shared/fixtures/recorded``;
tests that need them skip with a message naming the missing path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from streamactors._chunk import Chunk
from streamactors._result import StreamResult
from streamactors.accumulate import Accumulator
from streamactors.errors import StreamError
from streamactors.providers._base import StreamDecoder
from streamactors.sse import SSEDecoder

RECORDED = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "recorded"


def fixture_bytes(relative: str) -> bytes:
    """The bytes of a recorded stream, or a skip when the fixtures are absent."""
    path = RECORDED / relative
    if not path.is_file():
        pytest.skip(f"recorded fixture {path} not found (expected at <repo>/../shared)")
    return path.read_bytes()


def sse_events(body: bytes, piece: int | None = None) -> list[tuple[str, str]]:
    """(event name, data) of every event of an SSE body, via the library's parser,
    fed whole or in reads of ``piece`` bytes."""
    decoder = SSEDecoder()
    step = piece or max(len(body), 1)
    events = []
    for start in range(0, len(body), step):
        events.extend(decoder.feed(body[start:start + step]))
    events.extend(decoder.close())
    return [(e.event, e.data) for e in events]


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


def replay_events(decoder: StreamDecoder, events: list[tuple[str, str]]) -> Replay:
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
    return replay_events(decoder, sse_events(body, piece))
