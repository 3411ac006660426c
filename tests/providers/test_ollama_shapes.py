"""The Ollama decoder beyond the happy path: its end marker (``done``), its
(empty) continuation, log-probabilities, and wrong-shape lines, which are
``ProtocolError``s naming the provider and the field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamactors.accumulate import Accumulator
from streamactors.errors import ProtocolError
from streamactors.providers._base import RequestInput
from streamactors.providers.ollama import OllamaDecoder, OllamaLogprobsDecoder, OllamaProvider

from ._replay import ndjson_lines, recorded

pytestmark = pytest.mark.timeout(10)


def line(message: Any = None, **top: Any) -> str:
    payload: dict[str, Any] = {"model": "qwen3", "done": False, **top}
    if message is not None:
        payload["message"] = message
    return json.dumps(payload)


def test_done_turns_true_on_the_done_line_only() -> None:
    d = OllamaProvider().new_decoder(RequestInput())
    events = ndjson_lines(recorded("ollama/02_chat_tool_call.ndjson"))
    for _, data in events[:-1]:
        d.feed(data)
        assert d.done is False
    (last,) = d.feed(events[-1][1])
    assert d.done is True and last.finish_reason == "tool_calls"


def test_the_continuation_is_empty() -> None:
    d = OllamaDecoder()
    for _, data in ndjson_lines(recorded("ollama/03_chat_three_tool_calls.ndjson")):
        d.feed(data)
    assert d.continuation() == {}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (line(["hi"]), "message"),
        (line("hi"), "message"),
        (line({"role": "assistant", "content": 5}), "message.content"),
        (line({"role": "assistant", "content": ["a"]}), "message.content"),
        (line({"role": "assistant", "content": "", "thinking": {"a": 1}}), "message.thinking"),
        (line({"role": "assistant", "content": "", "tool_calls": {"f": 1}}),
         "message.tool_calls"),
        (line({"role": "assistant", "content": "", "tool_calls": ["x"]}),
         "message.tool_calls[]"),
        (line({"role": "assistant", "content": "", "tool_calls": [{"function": None}]}),
         "message.tool_calls[].function"),
        (line({"role": "assistant", "content": "", "tool_calls": [{"function": {"name": 3}}]}),
         "function.name"),
        (line({"role": "assistant", "content": "", "tool_calls": [
            {"function": {"name": "f", "arguments": [1]}}]}), "function.arguments"),
        (line({"role": "assistant", "content": "", "tool_calls": [
            {"id": 5, "function": {"name": "f"}}]}), "tool_calls[].id"),
        (line(response=7), "response"),
        (line(response="", thinking=3), "thinking"),
        (line(response=["x"]), "response"),
        (line({"role": "assistant", "content": "x"}, model=1), "model"),
        (line({"role": "assistant", "content": "x"}, done="yes"), "done"),
        (line({"role": "assistant", "content": "x"}, done=1), "done"),
        (line(done=True, done_reason=["stop"]), "done_reason"),
        (line(done=True, eval_count="3"), "eval_count"),
        (line(done=True, prompt_eval_count=1.5), "prompt_eval_count"),
    ],
)
def test_wrong_shapes_are_protocol_errors_naming_the_field(data: str, field: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        OllamaDecoder().feed(data)
    assert field in caught.value.message and "ollama" in caught.value.message


def test_absent_null_and_empty_fields_are_fine() -> None:
    d = OllamaDecoder()
    assert d.feed(line({"role": "assistant", "content": None, "thinking": None,
                        "tool_calls": None})) == []
    assert d.feed(line({"role": "assistant", "content": "", "thinking": ""})) == []
    assert d.feed(line(model=None, response=None, thinking=None)) == []
    # an empty value of another type counts as absent too (nothing is lost)
    assert d.feed(line({"role": "assistant", "content": 0, "thinking": []}, done=0)) == []
    assert d.done is False
    (end,) = d.feed(line(done=True, done_reason=None))
    assert (end.finish_reason, end.native_finish_reason, end.usage) == ("stop", "stop", None)


def test_a_lone_surrogate_becomes_a_replacement_character() -> None:
    acc = Accumulator()
    d = OllamaDecoder()
    for data in ('{"message": {"role": "assistant", "content": "a\\udc00b"}, "done": false}',
                 '{"message": {"role": "assistant", "content": ""}, "done": true}'):
        for chunk in d.feed(data):
            acc.add(chunk)
    assert acc.result().text == "a\ufffdb"


LOGPROBS = [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105],
             "top_logprobs": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105]}]}]


def test_logprobs_are_read_only_when_asked_for() -> None:
    provider = OllamaProvider()
    assert type(provider.new_decoder(RequestInput())) is OllamaDecoder
    decoder = provider.new_decoder(RequestInput(params={"logprobs": True}))
    assert isinstance(decoder, OllamaLogprobsDecoder)
    text = line({"role": "assistant", "content": "Hi"}, logprobs=LOGPROBS)
    assert OllamaDecoder().feed(text)[0].logprobs is None
    acc = Accumulator()
    for data in (text, line({"role": "assistant", "content": ""}, logprobs=LOGPROBS),
                 line({"role": "assistant", "content": ""}, done=True)):
        for chunk in decoder.feed(data):
            acc.add(chunk)
    assert acc.result().choices[0].logprobs == (*LOGPROBS, *LOGPROBS)
    assert acc.result().text == "Hi" and decoder.done


def test_wrong_logprobs_shape() -> None:
    with pytest.raises(ProtocolError, match="logprobs"):
        OllamaLogprobsDecoder().feed(line({"role": "assistant", "content": "x"}, logprobs={}))
