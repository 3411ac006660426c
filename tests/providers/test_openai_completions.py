"""The OpenAI legacy text Completions codec: decoding, requests, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamactors._chunk import Chunk
from streamactors.errors import (
    ConfigurationError,
    ProtocolError,
    ProviderError,
    RateLimitError,
)
from streamactors.providers._base import ProviderConfig, RequestInput, Secret
from streamactors.providers.openai_completions import (
    OpenAICompletionsDecoder,
    OpenAICompletionsProvider,
)

from ._replay import replay as replay_events
from ._replay import replay_body

pytestmark = pytest.mark.timeout(10)

P = OpenAICompletionsProvider()
KEY = "sk-legacy-DO-NOT-LEAK-456"
CONFIG = ProviderConfig("openai", "gpt-3.5-turbo-instruct", "https://api.openai.com/v1",
                        Secret(KEY))


def chunk(*choices: dict[str, Any], usage: Any = None, **extra: Any) -> str:
    return json.dumps({"id": "cmpl-1", "object": "text_completion", "created": 1700000000,
                       "model": "gpt-3.5-turbo-instruct", "choices": list(choices),
                       "usage": usage, **extra})


def choice(index: int, text: str, finish: str | None = None, logprobs: Any = None) -> dict[
        str, Any]:
    return {"text": text, "index": index, "logprobs": logprobs, "finish_reason": finish}


USAGE = {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}


def sse(*datas: str) -> bytes:
    return b"".join(f"data: {d}\n\n".encode() for d in datas)


# ----------------------------------------------------------------- decoding


def test_n2_interleaved_with_usage_chunk() -> None:
    body = sse(
        chunk(choice(0, "Hel")),
        chunk(choice(1, "Bon")),
        chunk(choice(1, "jour")),
        chunk(choice(0, "lo")),
        chunk(choice(1, "", "stop")),
        chunk(choice(0, "!", "length")),
        chunk(usage=USAGE),
        "[DONE]",
    )
    decoder = P.new_decoder(RequestInput(kind="completion", prompt="p"))
    r = replay_body(decoder, body)
    assert r.error is None
    assert isinstance(decoder, OpenAICompletionsDecoder) and decoder.done
    res = r.result
    assert [(c.index, c.text, c.finish_reason) for c in res.choices] == [
        (0, "Hello!", "length"), (1, "Bonjour", "stop")]
    assert res.usage is not None
    assert (res.usage.prompt_tokens, res.usage.completion_tokens, res.usage.total_tokens) == (
        5, 6, 11)
    assert (res.id, res.model) == ("cmpl-1", "gpt-3.5-turbo-instruct")
    assert res.created == 1700000000
    assert r.chunks[-1].usage is not None and r.chunks[-1].text is None
    assert all(c.usage is None for c in r.chunks[:-1])
    assert r.chunks[4].text is None, "empty text is no text"


@pytest.mark.parametrize(
    ("native", "finish"),
    [("stop", "stop"), ("length", "length"), ("content_filter", "content_filter"),
     ("tool_calls", "other"), ("weird", "other")],
)
def test_finish_reasons(native: str, finish: str) -> None:
    [c] = OpenAICompletionsDecoder().feed(chunk(choice(0, "", native)))
    assert (c.finish_reason, c.native_finish_reason) == (finish, native)


def test_no_finish_reason_is_never_invented() -> None:
    r = replay_events(OpenAICompletionsDecoder(), [("message", chunk(choice(0, "cut")))])
    assert r.result.finish_reason is None and not r.acc.complete


def test_logprobs_kept_per_chunk() -> None:
    lp1 = {"tokens": [" Hi"], "token_logprobs": [-0.5], "top_logprobs": [{" Hi": -0.5}],
           "text_offset": [3]}
    lp2 = {"tokens": ["!"], "token_logprobs": [-0.1], "top_logprobs": [{"!": -0.1}],
           "text_offset": [6]}
    events = [("message", chunk(choice(0, " Hi", logprobs=lp1))),
              ("message", chunk(choice(0, "!", "stop", logprobs=lp2)))]
    r = replay_events(OpenAICompletionsDecoder(), events)
    assert [c.logprobs for c in r.chunks] == [lp1, lp2]
    assert r.result.choices[0].logprobs == (lp1, lp2)


def test_usage_on_a_choice_chunk() -> None:
    chunks = OpenAICompletionsDecoder().feed(
        chunk(choice(0, "a"), choice(1, "b", "stop"), usage=USAGE))
    assert [c.index for c in chunks] == [0, 1]
    assert chunks[0].usage is None
    assert chunks[1].usage is not None and chunks[1].usage.total_tokens == 11
    assert chunks[1].usage.raw == USAGE


def test_raw_is_the_decoded_payload() -> None:
    data = chunk(choice(0, "x"), system_fingerprint="fp_1")
    [c] = OpenAICompletionsDecoder().feed(data)
    assert c.raw == json.loads(data)


def test_in_band_error() -> None:
    data = json.dumps({"error": {"message": "The server had an error", "type": "server_error",
                                 "param": None, "code": None}})
    with pytest.raises(ProviderError) as info:
        OpenAICompletionsDecoder().feed(data)
    err = info.value
    assert (err.provider_message, err.type, err.code, err.provider) == (
        "The server had an error", "server_error", None, "openai")
    assert "The server had an error" in str(err)
    with pytest.raises(ProviderError) as info2:
        OpenAICompletionsDecoder().feed('{"error": "plain text"}')
    assert info2.value.provider_message == "plain text"


@pytest.mark.parametrize("data", ["{not json", '["a"]'])
def test_malformed(data: str) -> None:
    with pytest.raises(ProtocolError) as info:
        OpenAICompletionsDecoder().feed(data)
    assert info.value.payload == data


@pytest.mark.parametrize(
    ("event", "where"),
    [
        ({"choices": ["x"]}, r"choices\[0\] as a string, expected an object"),
        ({"choices": {"text": "x"}}, "choices as an object, expected a list"),
        ({"choices": [{"text": 5}]}, r"choices\[0\]\.text as a number, expected a string"),
        ({"choices": [{"text": "a", "index": "1"}]}, r"choices\[0\]\.index as a string"),
        ({"choices": [{"text": "a", "finish_reason": {}}]}, r"choices\[0\]\.finish_reason as"),
        ({"id": ["x"], "choices": []}, "id as a list, expected a string"),
        ({"model": 3, "choices": []}, "model as a number, expected a string"),
        ({"choices": [], "usage": "many"}, "usage as a string, expected an object"),
        ({"choices": [], "usage": {"total_tokens": True}}, r"usage\.total_tokens as a boolean"),
    ],
)
def test_wrong_shapes_name_the_field(event: dict[str, Any], where: str) -> None:
    with pytest.raises(ProtocolError, match="^openai sent " + where):
        OpenAICompletionsDecoder().feed(json.dumps(event))


def test_done_and_empty_events() -> None:
    d = OpenAICompletionsDecoder()
    assert d.feed('{"id": "x", "choices": []}') == []
    assert not d.done
    assert d.feed("[DONE]") == [] and d.done
    assert d.continuation() == {}


def test_lone_surrogate_text() -> None:
    [c] = OpenAICompletionsDecoder().feed('{"choices": [{"index": 0, "text": "a\\ud800"}]}')
    assert c.text == "a\ufffd"


# ----------------------------------------------------------------- requests


def build(prompt: str | None = "Say hi", **params: Any) -> dict[str, Any]:
    req = P.build_request(CONFIG, RequestInput(kind="completion", prompt=prompt, params=params))
    return dict(req.body)


def test_request_shape_and_secret() -> None:
    req = P.build_request(CONFIG, RequestInput(kind="completion", prompt="Say hi"))
    assert (req.method, req.url, req.framing) == (
        "POST", "https://api.openai.com/v1/completions", "sse")
    assert req.body == {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "stream": True,
                        "stream_options": {"include_usage": True}}
    assert req.headers["Accept"] == "text/event-stream"
    assert req.wire_headers()["Authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(req) and KEY not in json.dumps(dict(req.headers))
    assert P.name == "openai" and P.framing == "sse"


def test_params_pass_through() -> None:
    params: dict[str, Any] = {
        "max_tokens": 16, "temperature": 0.0, "top_p": 1, "n": 2, "stop": ["\n"], "seed": 3,
        "logprobs": 2, "echo": True, "best_of": 3, "suffix": "end", "frequency_penalty": 0.1,
        "presence_penalty": 0.2, "logit_bias": {"50256": -100}, "user": "u1",
    }
    body = build(**params, stream=False)
    assert body == {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", **params,
                    "stream": True, "stream_options": {"include_usage": True}}


def test_user_stream_options_kept() -> None:
    assert build(stream_options={"include_usage": False})["stream_options"] == {
        "include_usage": False}


def test_max_completion_tokens_sent_as_max_tokens() -> None:
    body = build(max_completion_tokens=9)
    assert body["max_tokens"] == 9 and "max_completion_tokens" not in body
    with pytest.raises(ConfigurationError, match="disagree"):
        build(max_completion_tokens=9, max_tokens=10)


@pytest.mark.parametrize(
    "param",
    [{"tools": []}, {"tool_choice": "auto"}, {"response_format": {"type": "json_object"}},
     {"parallel_tool_calls": True}, {"functions": []}, {"reasoning_effort": "low"},
     {"store": True}, {"top_k": 3}],
)
def test_chat_only_params_rejected(param: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as info:
        build(**param)
    assert repr(next(iter(param))) in str(info.value)
    assert "chat()" in str(info.value) or "top_p" in str(info.value)


def test_unknown_field_points_to_extra_body() -> None:
    with pytest.raises(ConfigurationError, match=r"'messages'.*extra_body"):
        build(messages=[])


@pytest.mark.parametrize(
    ("params", "legacy"),
    [({"logprobs": True}, 0), ({"logprobs": 3}, 3), ({"top_logprobs": 2}, 2),
     ({"logprobs": True, "top_logprobs": 4}, 4), ({"logprobs": 2, "top_logprobs": 2}, 2),
     ({"logprobs": False}, None)],
)
def test_chat_style_logprobs_become_the_legacy_integer(params: dict[str, Any],
                                                       legacy: int | None) -> None:
    body = build(**params)
    assert body.get("logprobs") == legacy and "top_logprobs" not in body


@pytest.mark.parametrize(
    ("params", "match"),
    [({"logprobs": "yes"}, "integer"), ({"logprobs": 1, "top_logprobs": 3}, "disagree"),
     ({"logprobs": False, "top_logprobs": 3}, "logprobs=True"), ({"top_logprobs": 1.5}, "integer")],
)
def test_bad_logprobs(params: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        build(**params)


def test_compatible_server_takes_sampling_extras() -> None:
    provider = OpenAICompletionsProvider("openai-compatible")
    config = ProviderConfig("openai-compatible", "llama", "http://127.0.0.1:8000/v1")
    req = provider.build_request(config, RequestInput(
        kind="completion", prompt="x", params={"top_k": 20, "min_p": 0.1}))
    assert (req.body["top_k"], req.body["min_p"]) == (20, 0.1)
    assert "top_k" in provider.fields and P.fields["top_k"].action == "refused"


def test_needs_a_prompt_not_messages() -> None:
    with pytest.raises(ConfigurationError):
        build(prompt=None)
    with pytest.raises(ConfigurationError):
        P.build_request(CONFIG, RequestInput(messages=[{"role": "user", "content": "x"}]))


def test_keyless_compatible_server() -> None:
    provider = OpenAICompletionsProvider("openai-compatible")
    config = ProviderConfig("openai-compatible", "llama", "http://127.0.0.1:8000/v1/")
    req = provider.build_request(config, RequestInput(kind="completion", prompt="x"))
    assert req.url == "http://127.0.0.1:8000/v1/completions" and req.secret_headers == {}
    err = provider.error_from_response(429, {}, b'{"error": {"message": "busy"}}')
    assert isinstance(err, RateLimitError) and err.provider == "openai-compatible"
    with pytest.raises(ProviderError) as info:
        provider.new_decoder(RequestInput()).feed('{"error": "x"}')
    assert info.value.provider == "openai-compatible"


@pytest.mark.parametrize(
    "one",
    [choice(0, " tok"), choice(2, ""), {"text": "x", "logprobs": {"tokens": ["x"]}}],
)
def test_the_common_event_takes_a_short_way_to_the_same_chunk(one: dict[str, Any]) -> None:
    # One choice with new text: the codec builds the Chunk from a plain tuple.
    # It must equal the keyword-built Chunk field for field.
    event: dict[str, Any] = {"id": "cmpl-1", "model": "m", "choices": [one]}
    [c] = OpenAICompletionsDecoder().feed(json.dumps(event))
    expected = Chunk(text=one["text"] or None, index=one.get("index", 0), raw=event,
                     id="cmpl-1", model="m", logprobs=one.get("logprobs"))
    assert c == expected and type(c) is Chunk and c._asdict() == expected._asdict()
    event["usage"] = USAGE  # anything else takes the general way, to the same text
    [g] = OpenAICompletionsDecoder().feed(json.dumps(event))
    assert g.usage is not None and g._replace(usage=None, raw=None) == c._replace(raw=None)


def test_short_way_checks_its_types() -> None:
    with pytest.raises(ProtocolError, match=r"^openai sent id as a number"):
        OpenAICompletionsDecoder().feed('{"id": 1, "choices": [{"index": 0, "text": "x"}]}')
    with pytest.raises(ProtocolError, match=r"not valid JSON") as info:
        OpenAICompletionsDecoder().feed("[DONE")
    assert info.value.payload == "[DONE"
