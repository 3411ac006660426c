"""Wrong-shape Gemini events: every field the decoder reads, given a value of
the wrong JSON type, is a ``ProtocolError`` naming the provider and the
field (never an ``AttributeError``/``TypeError``, nor a value that would
break the result later)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamactors.accumulate import Accumulator
from streamactors.errors import ProtocolError, ProviderError
from streamactors.providers.gemini import GeminiDecoder, GeminiProvider
from streamactors.providers.gemini_decode import GeminiLogprobsDecoder

pytestmark = pytest.mark.timeout(10)

TEXT = {"content": {"parts": [{"text": "hi"}]}}


def event(**top: Any) -> str:
    return json.dumps({"candidates": [TEXT], **top})


def cand(**fields: Any) -> str:
    return json.dumps({"candidates": [{**TEXT, **fields}]})


def parts(*items: Any) -> str:
    return json.dumps({"candidates": [{"content": {"parts": list(items)}}]})


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (json.dumps({"candidates": 5}), "candidates"),
        (json.dumps({"candidates": {"0": TEXT}}), "candidates"),
        (json.dumps({"candidates": ["x"]}), "candidates[]"),
        (event(responseId=7), "responseId"),
        (event(modelVersion=["gemini"]), "modelVersion"),
        (cand(index="0"), "candidates[].index"),
        (cand(index=True), "candidates[].index"),
        (json.dumps({"candidates": [{"content": []}]}), "candidates[].content"),
        (json.dumps({"candidates": [{"content": {"parts": {"text": "x"}}}]}), "content.parts"),
        (json.dumps({"candidates": [{"content": {"parts": 0}}]}), "content.parts"),
        (parts("not a part"), "content.parts[]"),
        (parts({"text": 5}), "content.parts[].text"),
        (parts({"text": []}), "content.parts[].text"),
        (parts({"functionCall": "f"}), "functionCall"),
        (parts({"functionCall": {"name": 1}}), "functionCall.name"),
        (parts({"functionCall": {"name": "f", "args": [1]}}), "functionCall.args"),
        (parts({"functionCall": {"name": "f", "id": 9}}), "functionCall.id"),
        (parts({"text": "", "thoughtSignature": {"a": 1}}), "thoughtSignature"),
        (cand(finishReason=["STOP"]), "candidates[].finishReason"),
        (cand(finishReason=0), "candidates[].finishReason"),
        (json.dumps({"candidates": [TEXT], "usageMetadata": [1]}), "usageMetadata"),
        (json.dumps({"candidates": [TEXT],
                     "usageMetadata": {"promptTokenCount": "3"}}), "promptTokenCount"),
        (json.dumps({"usageMetadata": 3}), "usageMetadata"),
        (json.dumps({"promptFeedback": "blocked"}), "promptFeedback"),
        (json.dumps({"promptFeedback": {"blockReason": 1}}), "promptFeedback.blockReason"),
        (json.dumps([[TEXT]]), "not a JSON object"),
    ],
)
def test_wrong_shapes_are_protocol_errors_naming_the_field(data: str, field: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        GeminiDecoder().feed(data)
    assert field in caught.value.message and "gemini" in caught.value.message


def test_a_wrong_count_on_a_later_finish_chunk_is_caught_too() -> None:
    d = GeminiDecoder()
    d.feed(cand(finishReason="STOP"))
    with pytest.raises(ProtocolError, match="totalTokenCount"):
        d.feed(json.dumps({"usageMetadata": {"totalTokenCount": 1.5}}))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (cand(logprobsResult=[]), "logprobsResult"),
        (cand(logprobsResult={"chosenCandidates": {}}), "chosenCandidates"),
        (cand(logprobsResult={"chosenCandidates": ["x"]}), "chosenCandidates[]"),
        (cand(logprobsResult={"chosenCandidates": [{"token": 1, "logProbability": 0}]}),
         "token"),
        (cand(logprobsResult={"chosenCandidates": [{"token": "a", "logProbability": "0"}]}),
         "logProbability"),
        (cand(logprobsResult={"chosenCandidates": [{"token": "a", "logProbability": 0}],
                              "topCandidates": [7]}), "topCandidates[]"),
        (cand(logprobsResult={"chosenCandidates": [{"token": "a", "logProbability": 0}],
                              "topCandidates": [{"candidates": "a"}]}),
         "topCandidates[].candidates"),
    ],
)
def test_wrong_logprobs_shapes(data: str, field: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        GeminiLogprobsDecoder().feed(data)
    assert field in caught.value.message


def test_absent_and_null_fields_are_fine() -> None:
    d = GeminiDecoder()
    assert d.feed(json.dumps({"candidates": None})) == []
    assert d.feed(json.dumps({"candidates": [{"content": None, "finishReason": None}]})) == []
    assert d.feed(json.dumps({"candidates": [{"content": {"parts": None}}]})) == []
    assert d.feed(parts({"text": None, "functionCall": None, "thoughtSignature": None})) == []
    (c,) = d.feed(json.dumps({"candidates": [TEXT], "responseId": None, "modelVersion": None,
                              "usageMetadata": None}))
    assert (c.text, c.id, c.model) == ("hi", None, None)
    # a non-boolean thought flag is not a thought
    (t,) = GeminiDecoder().feed(parts({"text": "x", "thought": "yes"}))
    assert (t.text, t.reasoning) == ("x", None)


def test_a_lone_surrogate_becomes_a_replacement_character() -> None:
    acc = Accumulator()
    for chunk in GeminiDecoder().feed('{"candidates": [{"content": {"parts": '
                                      '[{"text": "a\\ud800b"}]}, "finishReason": "STOP"}]}'):
        acc.add(chunk)
    assert acc.result().text == "a\ufffdb"


@pytest.mark.parametrize("details", [5, "x", {"reason": "R"}, [1, None]])
def test_odd_error_details_never_break_error_reading(details: Any) -> None:
    err = {"error": {"code": 429, "message": "slow down", "details": details}}
    with pytest.raises(ProviderError) as caught:
        GeminiDecoder().feed(json.dumps(err))
    assert caught.value.provider_message == "slow down"
    status = GeminiProvider().error_from_response(429, {}, json.dumps(err).encode())
    assert status.retry_after is None and status.provider_message == "slow down"
