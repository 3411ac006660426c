"""Wrong-shape JSON through the OpenAI-family codecs and on through what the
worker does with their chunks: the accumulator, the result and the next
turn's message. ``tests/fuzz/test_shape_fuzz.py`` checks the codec alone; a
codec that let a wrong type through (an ``id`` that is a number, an ``index``
that is a list) would pass there and crash later, in ``Accumulator.add`` or
in ``StreamResult``'s validation, as an internal error. Here only the
library's ``ProtocolError`` / ``ProviderError`` may come out, from the codec;
and each crash site found is pinned by a case that names its field.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamactors.accumulate import Accumulator
from streamactors.errors import ProtocolError, ProviderError
from streamactors.providers import RequestInput, StreamDecoder
from streamactors.providers.openai_chat import OpenAIChatDecoder
from streamactors.providers.openai_responses import OpenAIResponsesDecoder
from streamactors.sse import SSEDecoder

from .._data import RECORDED
from .._mutate import paths, replace

pytestmark = pytest.mark.timeout(120)

SETTINGS = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "120")), deadline=None,
                    database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

FOLDERS = {"openai-chat": "openai", "openai-compatible": "openai-compatible",
           "mistral": "mistral", "openai-responses": "responses"}
STREAMS = [(folder, p) for folder in FOLDERS for p in sorted((RECORDED / folder).glob("*.sse"))]

odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
    st.text(max_size=4), st.just([]), st.just({}), st.just([1, "a"]), st.just({"a": 1}),
    st.just("\ud800"),
)


def _events(path: Path) -> list[tuple[str, Any]]:
    decoder = SSEDecoder()
    out: list[tuple[str, Any]] = []
    for ev in decoder.feed(path.read_bytes()) + decoder.close():
        try:
            out.append((ev.event, json.loads(ev.data)))
        except ValueError:
            out.append((ev.event, ev.data))  # [DONE]
    return out


def _decoder(folder: str) -> StreamDecoder:
    name = FOLDERS[folder]
    if name == "responses":
        return OpenAIResponsesDecoder()
    return OpenAIChatDecoder(name)


def _run(decoder: StreamDecoder, events: list[tuple[str, Any]]) -> None:
    """Everything the worker does with the stream; only typed errors may leave
    the codec, and nothing may fail after it."""
    acc = Accumulator("openai", "m")
    for name, value in events:
        text = value if isinstance(value, str) and value.startswith("[DONE]") else json.dumps(value)
        try:
            chunks = decoder.feed(text, name)
        except (ProtocolError, ProviderError):
            break
        for chunk in chunks:
            acc.add(chunk)
    result = acc.result(continuation=dict(decoder.continuation()))
    result.to_message()
    result.to_chat_completion()
    json.dumps(result.model_dump(mode="json"))  # what a saved result or the CLI prints


@pytest.mark.parametrize(("folder", "path"), STREAMS, ids=[f"{f}-{p.name}" for f, p in STREAMS])
@SETTINGS
@given(data=st.data())
def test_wrong_shapes_never_crash_past_the_codec(folder: str, path: Path,
                                                 data: st.DataObject) -> None:
    events = _events(path)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(events) - 1))
        name, value = events[i]
        where = data.draw(st.sampled_from(paths(value)))
        events[i] = (name, replace(value, where, data.draw(odd_values)))
    _run(_decoder(folder), events)


@pytest.mark.parametrize(("folder", "path"), STREAMS, ids=[f"{f}-{p.name}" for f, p in STREAMS])
def test_recorded_streams_run_clean(folder: str, path: Path) -> None:
    _run(_decoder(folder), _events(path))


def test_a_number_for_an_id_on_the_common_event_is_named() -> None:
    # The short way of the common text event checks id, model and index too:
    # the accumulator would keep a number as the response id, and the result
    # would fail its validation at the end of the stream.
    event = {"id": 7, "model": "m", "choices": [{"index": 0, "delta": {"content": "x"}}]}
    with pytest.raises(ProtocolError, match=r"openai sent id as a number, expected a string"):
        OpenAIChatDecoder().feed(json.dumps(event))
    event = {"id": "c", "model": ["m"], "choices": [{"index": 0, "delta": {"content": "x"}}]}
    with pytest.raises(ProtocolError, match=r"openai sent model as a list"):
        OpenAIChatDecoder().feed(json.dumps(event))
    event = {"id": "c", "model": "m", "choices": [{"index": [0], "delta": {"content": "x"}}]}
    with pytest.raises(ProtocolError, match=r"openai sent choices\[0\]\.index as a list"):
        OpenAIChatDecoder().feed(json.dumps(event))


def test_request_input_is_not_needed_to_decode() -> None:
    from streamactors.providers.openai_chat import OpenAIChatProvider

    decoder = OpenAIChatProvider("mistral").new_decoder(RequestInput())
    assert isinstance(decoder, OpenAIChatDecoder) and decoder.continuation() == {}


# ----------------------------------------------------------------- each crash site, named


@pytest.mark.parametrize(
    ("event", "where"),
    [
        ({"choices": True}, "choices as a boolean, expected a list"),
        ({"choices": [None]}, r"choices\[0\] as null, expected an object"),
        ({"choices": [{"delta": "x"}]}, r"choices\[0\]\.delta as a string, expected an object"),
        ({"choices": [{"index": "0", "delta": {"content": "x"}}]},
         r"choices\[0\]\.index as a string, expected an integer"),
        ({"choices": [{"delta": {"content": 5}}]}, r"choices\[0\]\.delta\.content as a number"),
        ({"choices": [{"delta": {"content": [5]}}]}, r"choices\[0\]\.delta\.content\[0\] as a"),
        ({"choices": [{"delta": {"content": [{"type": "text", "text": 5}]}}]},
         r"choices\[0\]\.delta\.content\[0\]\.text as a number"),
        ({"choices": [{"delta": {"content": [{"type": "thinking", "thinking": 5}]}}]},
         r"choices\[0\]\.delta\.content\[0\]\.thinking as a number"),
        ({"choices": [{"delta": {"reasoning_content": {"a": 1}}}]},
         r"choices\[0\]\.delta\.reasoning_content as an object"),
        ({"choices": [{"delta": {"reasoning": ["a"]}}]}, r"choices\[0\]\.delta\.reasoning as"),
        ({"choices": [{"delta": {}, "finish_reason": ["stop"]}]},
         r"choices\[0\]\.finish_reason as a list"),
        ({"choices": [{"delta": {"refusal": 1}}]}, r"choices\[0\]\.delta\.refusal as a number"),
        ({"choices": [{"delta": {"role": False}}]}, r"choices\[0\]\.delta\.role as a boolean"),
        ({"choices": [{"delta": {"tool_calls": {"index": 0}}}]},
         r"choices\[0\]\.delta\.tool_calls as an object, expected a list"),
        ({"choices": [{"delta": {"tool_calls": ["x"]}}]},
         r"choices\[0\]\.delta\.tool_calls\[0\] as a string"),
        ({"choices": [{"delta": {"tool_calls": [{"index": 0, "function": []}]}}]},
         r"choices\[0\]\.delta\.tool_calls\[0\]\.function as a list"),
        ({"choices": [{"delta": {"tool_calls": [{"index": "a"}]}}]},
         r"choices\[0\]\.delta\.tool_calls\[0\]\.index as a string, expected an integer"),
        ({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": 1}]}}]},
         r"choices\[0\]\.delta\.tool_calls\[0\]\.id as a number"),
        ({"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": {}}}]}}]},
         r"choices\[0\]\.delta\.tool_calls\[0\]\.function\.arguments as an object"),
        ({"choices": [{"delta": {"function_call": "f"}}]},
         r"choices\[0\]\.delta\.function_call as a string"),
        ({"choices": [], "usage": [1]}, "usage as a list, expected an object"),
        ({"choices": [], "usage": {"prompt_tokens": "3"}}, r"usage\.prompt_tokens as a string"),
        ({"choices": [], "usage": {"completion_tokens_details": [1]}},
         r"usage\.completion_tokens_details as a list"),
        ({"choices": [], "usage": {"prompt_tokens_details": {"cached_tokens": 1.5}}},
         r"usage\.prompt_tokens_details\.cached_tokens as a number, expected an integer"),
    ],
)
def test_chat_wrong_shapes_name_the_field(event: dict[str, Any],
                                                           where: str) -> None:
    with pytest.raises(ProtocolError, match="^openai sent " + where):
        OpenAIChatDecoder().feed(json.dumps(event))
    with pytest.raises(ProtocolError, match=r"^mistral sent "):
        OpenAIChatDecoder("mistral").feed(json.dumps(event))


@pytest.mark.parametrize(
    ("kind", "fields", "where"),
    [
        ("response.output_text.delta", {"delta": 5}, "delta as a number, expected a string"),
        ("response.output_text.delta", {"delta": "x", "logprobs": {"a": 1}}, "logprobs as an"),
        ("response.function_call_arguments.delta", {"item_id": ["a"], "delta": "{"},
         "item_id as a list"),
        ("response.function_call_arguments.delta", {"output_index": "0", "delta": "{"},
         "output_index as a string, expected an integer"),
        ("response.function_call_arguments.delta", {"item_id": "a", "delta": {}},
         "delta as an object"),
        ("response.reasoning_summary_text.delta", {"delta": ["a"]}, "delta as a list"),
        ("response.refusal.delta", {"delta": True}, "delta as a boolean"),
        ("response.output_item.added", {"item": "fc"}, "item as a string, expected an object"),
        ("response.output_item.added",
         {"output_index": 0, "item": {"type": "function_call", "id": "fc", "name": 1}},
         r"item\.name as a number"),
        ("response.output_item.done",
         {"output_index": 0, "item": {"type": "function_call", "id": "fc", "arguments": {}}},
         r"item\.arguments as an object"),
        ("response.created", {"response": []}, "response as a list, expected an object"),
        ("response.created", {"response": {"id": 5}}, r"response\.id as a number"),
        ("response.completed", {"response": {"output": {}}}, r"response\.output as an object"),
        ("response.completed", {"response": {"output": [3]}}, r"response\.output\[0\] as a"),
        ("response.completed",
         {"response": {"output": [{"type": "function_call", "id": ["x"]}]}},
         r"response\.output\[0\]\.id as a list"),
        ("response.completed", {"response": {"usage": {"input_tokens": "9"}}},
         r"response\.usage\.input_tokens as a string"),
        ("response.completed", {"response": {"usage": {"output_tokens_details": 1}}},
         r"response\.usage\.output_tokens_details as a number"),
        ("response.incomplete", {"response": {"incomplete_details": "long"}},
         r"response\.incomplete_details as a string"),
        ("response.incomplete", {"response": {"incomplete_details": {"reason": 1}}},
         r"response\.incomplete_details\.reason as a number"),
    ],
)
def test_responses_wrong_shapes_name_the_field(kind: str, fields: dict[str, Any], where: str) -> None:
    with pytest.raises(ProtocolError, match="^openai-responses sent " + where):
        OpenAIResponsesDecoder().feed(json.dumps({"type": kind, **fields}), kind)


def test_responses_wrong_type_of_event_type() -> None:
    with pytest.raises(ProtocolError, match="openai-responses sent type as a list"):
        OpenAIResponsesDecoder().feed('{"type": ["response.completed"]}', "message")


def test_responses_lone_surrogates_in_deltas() -> None:
    d = OpenAIResponsesDecoder()
    [t] = d.feed('{"type": "response.output_text.delta", "delta": "a\\ud800"}')
    [r] = d.feed('{"type": "response.reasoning_text.delta", "delta": "\\udfff"}')
    assert (t.text, r.reasoning) == ("a\ufffd", "\ufffd")
