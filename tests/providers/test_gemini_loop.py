"""A Gemini tool loop: finish reasons a loop can rely on, thought signatures
kept by the decoder, put on the assistant message by ``to_message()`` and
sent back by the request translator; log-probabilities; no end marker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamactors._result import StreamResult
from streamactors.accumulate import Accumulator
from streamactors.providers._base import ProviderConfig, RequestInput, Secret
from streamactors.providers.gemini import GeminiDecoder, GeminiProvider
from streamactors.providers.gemini_decode import GeminiLogprobsDecoder
from streamactors.providers.ollama import OllamaProvider

from ._replay import recorded, sse_events

pytestmark = pytest.mark.timeout(10)

P = GeminiProvider()
CONFIG = ProviderConfig("gemini", "gemini-2.5-flash", "https://g.example", Secret("k"))


def resp(*parts: dict[str, Any], finish: str | None = None, **cand: Any) -> str:
    candidate: dict[str, Any] = {"content": {"parts": list(parts), "role": "model"}, **cand}
    if finish:
        candidate["finishReason"] = finish
    return json.dumps({"candidates": [candidate], "modelVersion": "gemini-x"})


def call(name: str = "f", **extra: Any) -> dict[str, Any]:
    return {"functionCall": {"name": name, "args": {"x": 1}}, **extra}


def answer(decoder: GeminiDecoder, events: list[tuple[str, str]]) -> StreamResult:
    acc = Accumulator()
    for name, data in events:
        for chunk in decoder.feed(data, name):
            acc.add(chunk)
    return acc.result(continuation=dict(decoder.continuation()))


def next_body(*messages: dict[str, Any]) -> dict[str, Any]:
    convo = [{"role": "user", "content": "What is the date?"}, *messages]
    return dict(P.build_request(CONFIG, RequestInput(messages=convo)).body)


# --- finish reasons -----------------------------------------------------------------------

@pytest.mark.parametrize("native", ["STOP", "FUNCTION_CALL", "OTHER", "SOMETHING_NEW",
                                    "FINISH_REASON_UNSPECIFIED"])
def test_an_answer_with_calls_finishes_with_tool_calls(native: str) -> None:
    together = GeminiDecoder().feed(resp(call(), finish=native))[0]
    assert (together.finish_reason, together.native_finish_reason) == ("tool_calls", native)
    d = GeminiDecoder()
    d.feed(resp(call()))
    later = d.feed(resp({"text": ""}, finish=native))[0]
    assert (later.finish_reason, later.native_finish_reason) == ("tool_calls", native)
    assert later.raw["candidates"][0]["finishReason"] == native


@pytest.mark.parametrize(("native", "finish"), [
    ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"),
    ("MALFORMED_FUNCTION_CALL", "error"), ("TOO_MANY_TOOL_CALLS", "error")])
def test_a_cut_or_failed_answer_keeps_its_finish_even_with_calls(native: str,
                                                                 finish: str) -> None:
    assert GeminiDecoder().feed(resp(call(), finish=native))[0].finish_reason == finish


@pytest.mark.parametrize("native", ["SOMETHING_NEW", "OTHER"])
def test_unknown_finish_without_calls_stays_visible(native: str) -> None:
    c = GeminiDecoder().feed(resp({"text": "x"}, finish=native))[0]
    assert (c.finish_reason, c.native_finish_reason) == ("other", native)


def test_calls_of_one_candidate_do_not_change_another() -> None:
    payload = {"candidates": [
        {"index": 0, "content": {"parts": [{"text": "A"}]}, "finishReason": "STOP"},
        {"index": 1, "content": {"parts": [call()]}, "finishReason": "STOP"}]}
    a, b = GeminiDecoder().feed(json.dumps(payload))
    assert (a.finish_reason, b.finish_reason) == ("stop", "tool_calls")


def test_gemini_has_no_end_marker() -> None:
    d = GeminiDecoder()
    for _, data in sse_events(recorded("gemini/02_text_thinking_model.sse")):
        d.feed(data)
        assert d.done is False


# --- thought signatures -------------------------------------------------------------------

def test_signatures_per_call_and_for_the_text() -> None:
    d = GeminiDecoder()
    d.feed(resp({"text": "Let me check.", "thoughtSignature": "dGV4dA=="}))
    d.feed(resp(call("a", thoughtSignature="YQ=="), call("b"),
                {"functionCall": {"name": "c", "id": "given"}, "thoughtSignature": "Yw=="}))
    assert d.continuation() == {
        "tool_calls": {"call_0": {"extra_content": {"google": {"thought_signature": "YQ=="}}},
                       "given": {"extra_content": {"google": {"thought_signature": "Yw=="}}}},
        "message": {"extra_content": {"google": {"thought_signature": "dGV4dA=="}}},
    }
    assert GeminiDecoder().continuation() == {}


def test_the_last_text_signature_of_the_first_candidate_wins() -> None:
    d = GeminiDecoder()
    d.feed(resp({"text": "a", "thoughtSignature": "one"}))
    d.feed(resp({"text": "", "thoughtSignature": "two"}))
    d.feed(resp({"text": "b", "thoughtSignature": "other"}, index=1))
    assert d.continuation() == {
        "message": {"extra_content": {"google": {"thought_signature": "two"}}}}


def test_round_trip_of_a_signed_function_call() -> None:
    events = sse_events(recorded("gemini/03_function_call_thought_signature.sse"))
    signature = json.loads(events[0][1])["candidates"][0]["content"]["parts"][0][
        "thoughtSignature"]
    result = answer(P.new_decoder(RequestInput()), events)
    message = result.to_message()
    assert message["content"] is None
    assert message["tool_calls"][0]["extra_content"] == {
        "google": {"thought_signature": signature}}
    body = next_body(message, {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"],
                               "content": "Fri Feb 21 16:32:00 UTC 2025"})
    assert body["contents"][1] == {"role": "model", "parts": [
        {"functionCall": {"name": "system", "args": {"command": "date"}},
         "thoughtSignature": signature}]}
    assert body["contents"][2]["parts"][0]["functionResponse"]["name"] == "system"


def test_round_trip_of_a_signed_text_answer() -> None:
    events = sse_events(recorded("gemini/05_text_trailing_signature_part.sse"))
    signature = json.loads(events[-1][1])["candidates"][0]["content"]["parts"][0][
        "thoughtSignature"]
    message = answer(P.new_decoder(RequestInput()), events).to_message()
    assert message["extra_content"] == {"google": {"thought_signature": signature}}
    body = next_body(message, {"role": "user", "content": "And tomorrow?"})
    assert body["contents"][1] == {"role": "model", "parts": [
        {"text": "Fri Feb 21 16:32:00 UTC 2025", "thoughtSignature": signature}]}


def test_a_message_signature_without_text_gets_a_part_of_its_own() -> None:
    signed = {"extra_content": {"google": {"thought_signature": "c2ln"}}}
    body = next_body({"role": "assistant", "content": None, **signed, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"})
    assert body["contents"][1]["parts"] == [
        {"text": "", "thoughtSignature": "c2ln"}, {"functionCall": {"name": "f", "args": {}}}]


def test_keys_meant_for_other_providers_are_dropped() -> None:
    anthropic_turn = {
        "role": "assistant", "content": "Checking.", "refusal": None,
        "thinking_blocks": [{"type": "thinking", "thinking": "hmm", "signature": "sig"},
                            {"type": "redacted_thinking", "data": "xyz"}],
        "tool_calls": [{"id": "toolu_1", "type": "function",
                        "function": {"name": "f", "arguments": "{}"}}]}
    body = next_body(anthropic_turn, {"role": "tool", "tool_call_id": "toolu_1",
                                      "content": "ok"})
    assert body["contents"][1]["parts"] == [{"text": "Checking."},
                                            {"functionCall": {"name": "f", "args": {}}}]
    assert "thinking" not in json.dumps(body) and "sig" not in json.dumps(body)


def test_ollama_drops_gemini_signatures() -> None:
    events = sse_events(recorded("gemini/03_function_call_thought_signature.sse"))
    message = answer(P.new_decoder(RequestInput()), events).to_message()
    convo = [{"role": "user", "content": "date?"}, message,
             {"role": "tool", "tool_call_id": "call_0", "content": "Fri"}]
    body = OllamaProvider().build_request(
        ProviderConfig("ollama", "qwen3", "http://localhost:11434"),
        RequestInput(messages=convo)).body
    assert body["messages"][1] == {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "system", "arguments": {"command": "date"}}}]}
    assert "thought_signature" not in json.dumps(body)


# --- log-probabilities --------------------------------------------------------------------

LOGPROBS = {"chosenCandidates": [{"token": "Hi", "tokenId": 1, "logProbability": -0.25},
                                 {"token": "!", "tokenId": 2, "logProbability": 0}],
            "topCandidates": [
                {"candidates": [{"token": "Hi", "logProbability": -0.25},
                                {"token": "Yo", "logProbability": -1.5}]},
                {"candidates": [{"token": "!", "logProbability": 0}]}]}


def test_logprobs_are_read_only_when_asked_for() -> None:
    assert isinstance(P.new_decoder(RequestInput(params={"logprobs": True})),
                      GeminiLogprobsDecoder)
    plain = P.new_decoder(RequestInput(params={"logprobs": False}))
    assert type(plain) is GeminiDecoder
    assert plain.feed(resp({"text": "Hi!"}, logprobsResult=LOGPROBS))[0].logprobs is None


def test_logprobs_in_openai_form() -> None:
    d = GeminiLogprobsDecoder()
    acc = Accumulator()
    for chunk in d.feed(resp({"text": "Hi!"}, logprobsResult=LOGPROBS, avgLogprobs=-0.1)):
        acc.add(chunk)
    for chunk in d.feed(resp(finish="STOP", logprobsResult={})):
        acc.add(chunk)
    assert acc.result().choices[0].logprobs == (
        {"token": "Hi", "logprob": -0.25, "bytes": [72, 105], "top_logprobs": [
            {"token": "Hi", "logprob": -0.25, "bytes": [72, 105]},
            {"token": "Yo", "logprob": -1.5, "bytes": [89, 111]}]},
        {"token": "!", "logprob": 0, "bytes": [33], "top_logprobs": [
            {"token": "!", "logprob": 0, "bytes": [33]}]},
    )


def test_logprobs_on_a_candidate_with_no_text_still_arrive() -> None:
    (c,) = GeminiLogprobsDecoder().feed(
        json.dumps({"candidates": [{"index": 1, "logprobsResult": LOGPROBS}]}))
    assert (c.index, c.text, len(c.logprobs["content"])) == (1, None, 2)
