"""Fuzz the decoding path: random bytes with random splits through the SSE
and NDJSON framers, and random events (random JSON shaped with the keys the
codecs look for) through every provider's stream decoder. Whatever arrives,
the only exceptions allowed out are ``ProtocolError`` (malformed data) and
``ProviderError`` (an error the stream reported): anything else would reach
the worker as an internal error instead of a typed one."""

from __future__ import annotations

import json
from typing import Literal, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamactors.errors import ProtocolError, ProviderError
from streamactors.ndjson import NDJSONDecoder
from streamactors.providers import PROVIDERS, RequestInput, StreamDecoder, resolve
from streamactors.sse import SSEDecoder

pytestmark = pytest.mark.timeout(120)

ALLOWED = (ProtocolError, ProviderError)
Kind = Literal["chat", "completion"]
FUZZ = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: Every decoder: (id, model, api, kind).
DECODERS = [
    *[(p, f"{p}/m", None, "chat") for p in PROVIDERS if p != "openai-responses"],
    ("openai-responses", "openai/m", "responses", "chat"),
    *[(f"{p}-completion", f"{p}/m", None, "completion")
      for p, info in PROVIDERS.items() if info.completion_factory is not None],
]

#: Keys and event names the codecs look for, so random JSON reaches deep.
KEYS = [
    "id", "object", "model", "created", "choices", "index", "delta", "content", "role",
    "tool_calls", "function", "name", "arguments", "type", "finish_reason", "usage",
    "prompt_tokens", "completion_tokens", "total_tokens", "logprobs", "refusal", "text",
    "reasoning", "reasoning_content", "error", "message", "code", "param", "status",
    "candidates", "parts", "functionCall", "args", "thought", "finishReason",
    "usageMetadata", "promptTokenCount", "candidatesTokenCount", "totalTokenCount",
    "content_block", "input", "partial_json", "thinking", "stop_reason", "input_tokens",
    "output_tokens", "response", "item", "output_index", "item_id", "call_id", "output",
    "done", "done_reason", "eval_count", "prompt_eval_count", "completion_tokens_details",
    "reasoning_tokens", "prompt_tokens_details", "cached_tokens", "incomplete_details",
    "reason", "signature", "data", "details", "metadata", "tool_use", "tool_call_id",
]
EVENTS = [
    "message", "message_start", "content_block_start", "content_block_delta",
    "content_block_stop", "message_delta", "message_stop", "ping", "error",
    "response.created", "response.in_progress", "response.output_item.added",
    "response.output_text.delta", "response.function_call_arguments.delta",
    "response.reasoning_summary_text.delta", "response.reasoning_text.delta",
    "response.refusal.delta", "response.output_item.done", "response.completed",
    "response.incomplete", "response.failed", "response.queued", "", "x",
]
TYPES = ["text_delta", "input_json_delta", "thinking_delta", "signature_delta", "tool_use",
         "text", "thinking", "function_call", "message", "overloaded_error", "api_error",
         "function", "response.output_text.delta", "content_block_delta", "error"]

leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=True),
    st.text(max_size=12), st.sampled_from(KEYS + TYPES + ["stop", "length", "tool_calls",
                                                          "STOP", "MAX_TOKENS", "end_turn"]),
)
json_values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner,
                        max_size=6),
    ),
    max_leaves=30,
)
datas = st.one_of(
    json_values.map(lambda v: json.dumps(v, allow_nan=True)),
    st.just("[DONE]"),
    st.text(max_size=40),
)
event_sequences = st.lists(st.tuples(st.sampled_from(EVENTS), datas), min_size=1, max_size=12)


def new_decoder(model: str, api: str | None, kind: str) -> StreamDecoder:
    provider, _ = resolve(model, base_url="http://127.0.0.1:9/v1", api_key="sk-fuzz",
                          api=api, kind=kind)
    request = RequestInput(cast(Kind, kind), (), "p" if kind == "completion" else None)
    return provider.new_decoder(request)


def feed_all(decoder: StreamDecoder, events: list[tuple[str, str]]) -> None:
    for name, data in events:
        try:
            chunks = decoder.feed(data, name or "message")
        except ALLOWED:
            return  # the worker ends the stream at its first typed error
        assert isinstance(chunks, list)


@pytest.mark.parametrize(("model", "api", "kind"), [d[1:] for d in DECODERS],
                         ids=[d[0] for d in DECODERS])
@FUZZ
@given(events=event_sequences)
def test_codec_raises_only_typed_errors(model: str, api: str | None, kind: str,
                                        events: list[tuple[str, str]]) -> None:
    feed_all(new_decoder(model, api, kind), events)


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    out.append(data[last:])
    return out


@FUZZ
@given(data=st.binary(max_size=600), cuts=st.lists(st.integers(0, 10_000), max_size=8),
       limit=st.sampled_from([16, 64, 1 << 20]))
def test_sse_framer_on_random_bytes(data: bytes, cuts: list[int], limit: int) -> None:
    """Random bytes, randomly split: events or ProtocolError, nothing else;
    and where no error happens, the split never changes the events."""
    whole = SSEDecoder(limit)
    pieced = SSEDecoder(limit)
    try:
        expected = whole.feed(data) + whole.close()
    except ProtocolError:
        expected = None
    got = []
    try:
        for piece in splits(data, cuts):
            got += pieced.feed(piece)
        got += pieced.close()
    except ProtocolError:
        got = None  # type: ignore[assignment]
    if expected is not None and got is not None:
        assert [(e.event, e.data, e.id) for e in got] == [
            (e.event, e.data, e.id) for e in expected]


SSE_LINES = st.lists(
    st.one_of(
        datas.map(lambda d: "data: " + d.replace("\n", " ").replace("\r", " ")),
        st.sampled_from(EVENTS).map(lambda e: "event: " + e),
        st.sampled_from(["", ": ping", "id: 7", "retry: 10", "data:", "data: [DONE]"]),
    ),
    max_size=25,
)


@pytest.mark.parametrize(("model", "api", "kind"),
                         [d[1:] for d in DECODERS if not d[0].startswith("ollama")],
                         ids=[d[0] for d in DECODERS if not d[0].startswith("ollama")])
@FUZZ
@given(lines=SSE_LINES, cuts=st.lists(st.integers(0, 10_000), max_size=6),
       newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_sse_stream_through_codec(model: str, api: str | None, kind: str, lines: list[str],
                                  cuts: list[int], newline: str) -> None:
    """A random event stream, split anywhere, through framer and codec as
    the worker runs them."""
    body = (newline.join(lines) + newline * 2).encode()
    framer = SSEDecoder(4096)
    decoder = new_decoder(model, api, kind)
    try:
        for piece in splits(body, cuts):
            for ev in framer.feed(piece):
                decoder.feed(ev.data, ev.event)
        for ev in framer.close():
            decoder.feed(ev.data, ev.event)
    except ALLOWED:
        pass


@FUZZ
@given(data=st.binary(max_size=600), cuts=st.lists(st.integers(0, 10_000), max_size=8),
       limit=st.sampled_from([8, 64, 1 << 20]))
def test_ndjson_framer_on_random_bytes(data: bytes, cuts: list[int], limit: int) -> None:
    whole = NDJSONDecoder(limit)
    pieced = NDJSONDecoder(limit)
    try:
        expected: list[str] | None = whole.feed(data) + whole.close()
    except ProtocolError:
        expected = None
    got: list[str] | None = []
    try:
        for piece in splits(data, cuts):
            got += pieced.feed(piece)  # type: ignore[operator]
        got += pieced.close()  # type: ignore[operator]
    except ProtocolError:
        got = None
    if expected is not None and got is not None:
        assert got == expected


@pytest.mark.parametrize("kind", ["chat", "completion"])
@FUZZ
@given(values=st.lists(st.one_of(json_values.map(json.dumps), st.text(max_size=30)),
                       max_size=10),
       cuts=st.lists(st.integers(0, 10_000), max_size=6))
def test_ndjson_stream_through_ollama(kind: str, values: list[str], cuts: list[int]) -> None:
    body = "\n".join(v.replace("\n", " ") for v in values).encode() + b"\n"
    framer = NDJSONDecoder(4096)
    decoder = new_decoder("ollama/m", None, kind)
    try:
        for piece in splits(body, cuts):
            for line in framer.feed(piece):
                decoder.feed(line)
        for line in framer.close():
            decoder.feed(line)
    except ALLOWED:
        pass


def test_every_provider_is_fuzzed() -> None:
    assert {d[0] for d in DECODERS} >= set(PROVIDERS)
