"""Hot-path pieces: the event JSON parser (pydantic_core from_json, with
json.loads behind it for what from_json refuses) and the accumulator's
compaction of fragments."""

from __future__ import annotations

import json

import pytest

from streamactors.errors import ProtocolError
from streamactors.providers._base import loads_event
from streamactors.providers.openai_chat import OpenAIChatDecoder


def test_same_values_as_json_loads() -> None:
    text = '{"a": [1, 2.5, null, true, false], "b": {"c": "\\u00e9\\n"}, "n": 12345678901234567890}'
    assert loads_event(text) == json.loads(text)


def test_lone_surrogate_becomes_a_replacement_character() -> None:
    # from_json refuses it; json.loads takes it, and the lone half (which no
    # UTF-8 encoder would take later) becomes U+FFFD, keys included.
    assert loads_event('"\\ud800"') == "\ufffd"
    assert loads_event('{"k\\udc00": ["a\\ud800b", "\\ud83d\\ude00"]}') == {
        "k\ufffd": ["a\ufffdb", "\U0001f600"]
    }
    chunk = OpenAIChatDecoder().feed('{"choices": [{"index": 0, "delta": {"content": "x\\udfffy"}}]}')[0]
    assert chunk.text == "x\ufffdy"
    chunk.text.encode("utf-8")


def test_invalid_json_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        loads_event("{bad")


def test_too_deep_nesting_is_a_protocol_error_not_a_crash() -> None:
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(ProtocolError):
        OpenAIChatDecoder().feed(deep)


def test_accumulator_compacts_fragments() -> None:
    from streamactors import Chunk, ToolCallDelta
    from streamactors.accumulate import Accumulator

    acc = Accumulator()
    for i in range(10_000):
        acc.add(Chunk(text=str(i % 10), reasoning="r",
                      tool_calls=(ToolCallDelta(0, "id" if i == 0 else None, "f", "x"),)))
    st = acc._choices[0]
    assert len(st.text) < 300 and len(st.reasoning) < 300 and len(st.tools[0][3]) < 300
    r = acc.result()
    assert r.text == "".join(str(i % 10) for i in range(10_000))
    assert r.reasoning == "r" * 10_000 and r.tool_calls[0].arguments == "x" * 10_000


@pytest.mark.timeout(30)
def test_astream_buffers_a_bounded_number_of_chunks(
    loopback_server: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow coroutine: the worker waits once MAX_CHUNKS are buffered
    (plus at most one socket read's batch), instead of buffering the stream."""
    import asyncio

    import streamactors as sa
    from streamactors.actors import _aio as _aio
    from streamactors.testing import LoopbackServer, Script

    assert isinstance(loopback_server, LoopbackServer)
    monkeypatch.setattr(_aio, "MAX_CHUNKS", 20)
    loopback_server.script = Script(text=" w" * 3000)
    peak = 0

    async def main() -> int:
        nonlocal peak
        n = 0
        stream = sa.astream("openai/m", [{"role": "user", "content": "x"}],
                            base_url=loopback_server.url("openai"), api_key="k")
        async for _ in stream:
            n += 1
            assert stream._iteration is not None and stream._iteration._sink is not None
            peak = max(peak, stream._iteration._sink.buffer.size)
            if n % 100 == 0:
                await asyncio.sleep(0.005)
        return n

    assert asyncio.run(main()) >= 3000
    assert 0 < peak < 20 + 1000  # bound plus one read's batch, far below 3000
