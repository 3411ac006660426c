"""A chunk built by user code may hold a lone surrogate (``"\\ud800"``), which
no UTF-8 encoder takes: ``to_sse`` (both formats, sync and async) and
``encode`` send U+FFFD instead of raising in the middle of a web response."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from streamactors import Chunk
from streamactors.sse import ServerSentEvent, SSEDecoder, SSEFormat, encode, to_sse, to_sse_async

CHUNKS = [Chunk(text="a\ud800b", reasoning="\udfff"), Chunk(text="\ud83d\ude00"),
          Chunk(finish_reason="stop")]


def _payloads(body: bytes) -> list[dict[str, object]]:
    decoder = SSEDecoder()
    events = list(decoder.feed(body))
    return [json.loads(e.data) for e in events if e.data.startswith("{")]


def _texts(format: SSEFormat, body: bytes) -> tuple[str, str]:
    text = reasoning = ""
    for p in _payloads(body):
        if format == "openai":
            for choice in p.get("choices", []):  # type: ignore[attr-defined]
                text += choice["delta"].get("content") or ""
                reasoning += choice["delta"].get("reasoning_content") or ""
        else:
            text += str(p.get("text", ""))
            reasoning += str(p.get("reasoning", ""))
    return text, reasoning


@pytest.mark.parametrize("format", ["openai", "events"])
def test_to_sse_replaces_lone_surrogates(format: SSEFormat) -> None:
    body = b"".join(to_sse(CHUNKS, format))
    assert _texts(format, body) == ("a\ufffdb\U0001f600", "\ufffd")


@pytest.mark.parametrize("format", ["openai", "events"])
def test_to_sse_async_replaces_lone_surrogates(format: SSEFormat) -> None:
    async def source() -> AsyncIterator[Chunk]:
        for c in CHUNKS:
            yield c

    async def collect() -> bytes:
        return b"".join([b async for b in to_sse_async(source(), format)])

    assert _texts(format, asyncio.run(collect())) == ("a\ufffdb\U0001f600", "\ufffd")


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"data": "x\ud800"}, b"data: x\xef\xbf\xbd\n\n"),
    ({"data": "x\ud800\ny"}, b"data: x\xef\xbf\xbd\ndata: y\n\n"),
    ({"data": "d", "event_type": "t\udc00"}, b"event: t\xef\xbf\xbd\ndata: d\n\n"),
    ({"comment": "\ud800"}, b": \xef\xbf\xbd\n\n"),
])
def test_encode_replaces_lone_surrogates(kwargs: dict[str, str], expected: bytes) -> None:
    assert encode(**kwargs) == expected  # type: ignore[arg-type]


def test_encode_keeps_a_valid_event_byte_for_byte() -> None:
    event = ServerSentEvent(data="caf\u00e9 \U0001f600", event="e", id="1")
    assert encode(event) == "event: e\nid: 1\ndata: caf\u00e9 \U0001f600\n\n".encode()
