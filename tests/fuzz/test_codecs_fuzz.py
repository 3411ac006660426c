"""Fuzz the decoding path: random bytes with random splits through the SSE
and NDJSON framers, and random events (random JSON shaped with the keys the
codecs look for) through every provider's stream decoder. Whatever arrives,
the only exceptions allowed out are ``ProtocolError`` (malformed data) and
``ProviderError`` (an error the stream reported): anything else would reach
the worker as an internal error instead of a typed one. Random chunks through
the accumulator give what a plain fold of the module's rules gives."""

from __future__ import annotations

import json
import re
from typing import Any, Literal, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamactors import Chunk, StreamResult, ToolCallDelta, Usage
from streamactors.accumulate import Accumulator
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


def _chunks_the_pipeline_way(model: str, api: str | None, kind: str, body: bytes,
                             fast: bool) -> list[Chunk] | None:
    """``body`` read one event at a time, through the framer and the codec:
    with ``fast``, ``feed_one`` first as the readers do, else ``feed`` only.
    None when a typed error ended the stream."""
    framer = SSEDecoder(4096)
    decoder = new_decoder(model, api, kind)
    out: list[Chunk] = []
    try:
        for read in re.split(rb"(?<=\r\n\r\n)|(?<=\n\n)", body):
            text = framer.feed_one(read) if fast else None
            if text is not None:
                out += decoder.feed(text, "message")
                continue
            for ev in framer.feed(read):
                out += decoder.feed(ev.data, ev.event)
        for ev in framer.close():
            out += decoder.feed(ev.data, ev.event)
    except ALLOWED:
        return None
    return out


@pytest.mark.parametrize(("model", "api", "kind"),
                         [d[1:] for d in DECODERS if not d[0].startswith("ollama")],
                         ids=[d[0] for d in DECODERS if not d[0].startswith("ollama")])
@FUZZ
@given(lines=SSE_LINES, newline=st.sampled_from(["\n", "\r\n"]))
def test_feed_one_hands_the_codec_what_feed_does(model: str, api: str | None, kind: str,
                                                 lines: list[str], newline: str) -> None:
    """A paced stream (one event per read) gives the same chunks whether the
    framer's fast path takes the reads it can or ``feed`` takes them all."""
    body = (newline.join(lines) + newline * 2).encode()
    assert (_chunks_the_pipeline_way(model, api, kind, body, fast=True)
            == _chunks_the_pipeline_way(model, api, kind, body, fast=False))


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


# --- the accumulator against a plain fold of its rules ---------------------------

_pieces = st.one_of(st.none(), st.sampled_from(["", "a", "bc", "\u00e9"]))
_deltas = st.builds(
    ToolCallDelta, st.integers(0, 2), st.one_of(st.none(), st.sampled_from(["", "c1", "c2"])),
    st.one_of(st.none(), st.sampled_from(["f", "g"])), st.sampled_from(["", "{", "1", "}"]),
    st.sampled_from(["function", "custom"]))
_chunks = st.builds(
    Chunk, text=_pieces, reasoning=_pieces, refusal=_pieces,
    tool_calls=st.lists(_deltas, max_size=3).map(tuple),
    finish_reason=st.one_of(st.none(), st.sampled_from(["stop", "length"])),
    native_finish_reason=st.one_of(st.none(), st.just("STOP")),
    usage=st.one_of(st.none(), st.integers(0, 9).map(lambda n: Usage(total_tokens=n))),
    index=st.integers(0, 2), id=st.one_of(st.none(), st.sampled_from(["", "r1", "r2"])),
    model=st.one_of(st.none(), st.sampled_from(["", "m1", "m2"])),
    logprobs=st.one_of(st.none(), st.just([{"t": 1}]), st.just({"content": [{"t": 2}]}),
                       st.just({"content": None})),
    raw=st.sampled_from([None, {"created": 5}, {"created": "5"}]), role=st.none(),
)


def _fold(chunks: list[Chunk]) -> dict[str, Any]:
    """The module docstring's rules, written the obvious way."""
    choices: dict[int, dict[str, Any]] = {}
    top: dict[str, Any] = {"id": None, "created": None, "model": "req", "usage": None}
    for c in chunks:
        ch = choices.setdefault(c.index, {"text": "", "reasoning": "", "refusal": None,
                                          "calls": [], "live": {}, "finish": None,
                                          "native": None, "logprobs": None})
        ch["text"] += c.text or ""
        ch["reasoning"] += c.reasoning or ""
        if c.refusal:
            ch["refusal"] = (ch["refusal"] or "") + c.refusal
        for d in c.tool_calls:
            call = ch["live"].get(d.index)
            if call is None or (d.id and call["id"] is not None and d.id != call["id"]):
                call = {"index": d.index, "id": d.id, "name": d.name, "type": d.type,
                        "arguments": ""}
                ch["calls"].append(call)
                ch["live"][d.index] = call
            call["id"] = call["id"] if call["id"] is not None else (d.id or None)
            call["name"] = call["name"] if call["name"] is not None else (d.name or None)
            call["arguments"] += d.arguments
        if c.finish_reason is not None:
            ch["finish"], ch["native"] = c.finish_reason, c.native_finish_reason
        if c.logprobs:
            kept = ch["logprobs"] = ch["logprobs"] or []
            if not isinstance(c.logprobs, dict):
                kept.append(c.logprobs)
            elif isinstance(c.logprobs["content"], list):
                kept.extend(c.logprobs["content"])
        top["usage"] = c.usage if c.usage is not None else top["usage"]
        top["model"] = c.model or top["model"]
        if top["id"] is None and c.id:
            top["id"] = c.id
            created = c.raw.get("created") if isinstance(c.raw, dict) else None
            top["created"] = created if isinstance(created, int) else None
    return {**top, "choices": [
        (i, ch["text"], ch["reasoning"], ch["refusal"], ch["finish"], ch["native"],
         None if ch["logprobs"] is None else tuple(ch["logprobs"]),
         sorted(((t["index"], n, t["id"], t["name"], t["type"] or "function",
                  t["arguments"] or "{}") for n, t in enumerate(ch["calls"])),
                key=lambda t: t[:2]))
        for i, ch in sorted(choices.items())]}


def _summary(result: StreamResult) -> dict[str, Any]:
    return {"id": result.id, "created": result.created, "model": result.model,
            "usage": result.usage, "choices": [
        (c.index, c.text, c.reasoning, c.refusal, c.finish_reason, c.native_finish_reason,
         c.logprobs, [(t.index, n, t.id, t.name, t.type, t.arguments)
                      for n, t in enumerate(c.tool_calls)])
        for c in result.choices]}


@FUZZ
@given(chunks=st.lists(_chunks, min_size=1, max_size=30), repeat=st.sampled_from([1, 9, 20]))
def test_accumulator_matches_a_plain_fold(chunks: list[Chunk], repeat: int) -> None:
    """Random chunks, repeated past the compaction interval (256 chunks)."""
    chunks = chunks * repeat
    acc = Accumulator("p", "req")
    for c in chunks:
        acc.add(c)
    expected = _fold(chunks)
    # The plain fold numbers calls by arrival; the result lists them sorted.
    for choice in expected["choices"]:
        choice[7][:] = [(t[0], n, *t[2:]) for n, t in enumerate(choice[7])]
    assert _summary(acc.result()) == expected
    assert acc.chunks == len(chunks)


def test_every_provider_is_fuzzed() -> None:
    assert {d[0] for d in DECODERS} >= set(PROVIDERS)
