"""SSEDecoder against the WHATWG event-stream rules, one rule per test, and
against every recorded provider stream."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from streamactors.errors import ProtocolError
from streamactors.sse import DEFAULT_MAX_EVENT_BYTES, ServerSentEvent, SSEDecoder

from .. import _data

E = ServerSentEvent


Bytes = bytes | bytearray | memoryview


def decode(*pieces: Bytes, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> list[E]:
    decoder = SSEDecoder(max_event_bytes)
    events: list[E] = []
    for piece in pieces:
        events += decoder.feed(piece)
    return events + decoder.close()


def datas(*pieces: Bytes) -> list[str]:
    return [event.data for event in decode(*pieces)]


# --- BOM ---------------------------------------------------------------------


def test_bom_at_start_is_stripped() -> None:
    assert decode(b"\xef\xbb\xbfdata: a\n\n") == [E(data="a")]


def test_bom_stripped_once_only() -> None:
    # The second BOM is part of the first line: field "\ufeffdata" is unknown.
    assert decode(b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\ndata: b\n\n") == [E(data="b")]


def test_bom_after_start_is_an_ordinary_character() -> None:
    assert decode(b"data: a\n\n\xef\xbb\xbfdata: b\n\n") == [E(data="a")]
    assert datas(b"data: \xef\xbb\xbfx\n\n") == ["\ufeffx"]


def test_bom_split_across_feeds() -> None:
    assert decode(b"\xef", b"\xbb", b"\xbfdata: a\n\n") == [E(data="a")]
    assert decode(b"\xef\xbb", b"\xbf", b"data: a\n\n") == [E(data="a")]
    assert decode(b"\xef", b"", b"\xbb\xbf", b"data: a\n\n") == [E(data="a")]


def test_partial_bom_then_other_bytes_is_kept() -> None:
    # EF BB followed by "d" is no BOM: the bytes stay (as U+FFFD) and spoil the field name.
    assert decode(b"\xef\xbb", b"data: a\n\ndata: b\n\n") == [E(data="b")]
    assert decode(b"\xef", b"\n", b"data: a\n\n") == [E(data="a")]


def test_new_stream_after_close_strips_its_bom() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"\xef\xbb\xbfdata: a\n\n") == [E(data="a")]
    assert decoder.close() == []
    assert decoder.feed(b"\xef\xbb\xbfdata: b\n\n") == [E(data="b")]


# --- line ends ---------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
def test_each_line_end(eol: bytes) -> None:
    body = b"event: e" + eol + b"data: a" + eol + b"data: b" + eol + eol + b"data: c" + eol + eol
    assert decode(body) == [E(event="e", data="a\nb"), E(data="c")]


def test_mixed_line_ends() -> None:
    assert datas(b"data: a\r\ndata: b\rdata: c\n\r\n") == ["a\nb\nc"]
    assert datas(b"data: a\n\rdata: b\r\r") == ["a", "b"]


def test_cr_at_end_of_feed_then_lf_is_one_line_end() -> None:
    # Two line ends here would make a blank line and split the event in two.
    assert datas(b"data: a\r", b"\ndata: b\r\n\r\n") == ["a\nb"]
    assert datas(b"data: a\r", b"", b"\ndata: b\n\n") == ["a\nb"]


def test_cr_at_end_of_feed_then_cr_is_a_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\r") == [E(data="a")]


def test_lone_cr_dispatches_without_waiting_for_more() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r\r") == [E(data="a")]
    assert decoder.feed(b"\ndata: b\n\n") == [E(data="b")]  # that LF ended the blank line


def test_unicode_line_separators_are_not_line_ends() -> None:
    text = 'data: {"t":"a\u2028b\u2029c\x85d\x0be\x0cf\x1cg"}'
    assert datas(text.encode() + b"\n\n") == [text[6:]]


# --- fields ------------------------------------------------------------------


def test_comments_are_ignored() -> None:
    assert datas(b": hi\ndata: a\n:\n:data: x\n: \x00 nul\n\n") == ["a"]
    assert decode(b": keep-alive\n\n:\n\n") == []


def test_field_without_colon_has_empty_value() -> None:
    assert datas(b"data\n\n") == [""]
    assert datas(b"data\ndata\n\n") == ["\n"]
    assert decode(b"event\ndata: x\n\n") == [E(event="message", data="x")]


def test_only_one_leading_space_is_stripped() -> None:
    assert datas(b"data:  two\n\n") == [" two"]
    assert datas(b"data:none\n\n") == ["none"]
    assert datas(b"data:\tx \n\n") == ["\tx "]
    assert datas(b"data: a: b:c\n\n") == ["a: b:c"]
    assert decode(b"event:  e\ndata: x\n\n") == [E(event=" e", data="x")]


def test_multi_line_data_joined_with_lf() -> None:
    assert datas(b"data: a\ndata:b\ndata\ndata: \n\n") == ["a\nb\n\n"]


def test_data_with_empty_value_dispatches_empty_string() -> None:
    assert decode(b"data:\n\n") == [E(data="")]


def test_event_type_reset_after_dispatch_without_data() -> None:
    assert decode(b"event: ping\n\n") == []
    assert decode(b"event: ping\n\ndata: x\n\n") == [E(event="message", data="x")]


def test_event_type_applies_to_one_event() -> None:
    assert decode(b"event: a\ndata: 1\n\ndata: 2\n\n") == [E("a", "1"), E("message", "2")]
    assert decode(b"event: a\nevent: b\ndata: 1\n\n") == [E("b", "1")]
    assert decode(b"event:\ndata: 1\n\n") == [E("message", "1")]


def test_id_persists_until_changed() -> None:
    events = decode(b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\nid\ndata: d\n\n")
    assert [(e.data, e.id) for e in events] == [("a", "1"), ("b", "1"), ("c", "2"), ("d", "")]


def test_id_with_nul_is_ignored() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n") == [
        E(data="a", id="1"),
        E(data="b", id="1"),
    ]
    assert decoder.last_event_id == "1"


def test_last_event_id_is_committed_at_blank_lines() -> None:
    decoder = SSEDecoder()
    assert decoder.last_event_id == ""
    assert decoder.feed(b"id: 5\n\n") == []  # no data, no event, but the id counts
    assert decoder.last_event_id == "5"
    assert decoder.feed(b"id: 6\ndata: x\n") == []
    assert decoder.last_event_id == "5"  # event not terminated yet
    assert decoder.feed(b"\n") == [E(data="x", id="6")]
    assert decoder.last_event_id == "6"


def test_valid_retry() -> None:
    decoder = SSEDecoder()
    assert decoder.retry is None
    assert decoder.feed(b"retry: 1500\ndata: x\n\ndata: y\n\n") == [
        E(data="x", retry=1500),
        E(data="y"),
    ]
    assert decoder.retry == 1500
    assert decoder.feed(b"retry: 0042\n\n") == []  # applies without an event
    assert decoder.retry == 42


@pytest.mark.parametrize(
    "value",
    [b"10a", b"-5", b"+5", b"1.5", b" 7", b"3e3", b"", b"1_000", b"7 ",
     b"\xd9\xa3", b"\xef\xbc\x91"],  # Arabic-Indic and full-width digits are not ASCII
)
def test_invalid_retry_is_ignored(value: bytes) -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"retry: 9\n\nretry: " + value + b"\ndata: x\n\n") == [E(data="x")]
    assert decoder.retry == 9


def test_retry_with_very_many_digits_does_not_crash() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"retry: " + b"0" * 10_000 + b"12\ndata: x\n\n") == [E(data="x", retry=12)]
    assert decoder.feed(b"retry: " + b"9" * 10_000 + b"\ndata: y\n\n") == [E(data="y")]
    assert decoder.retry == 12


def test_unknown_and_case_variant_fields_are_ignored() -> None:
    body = b"Data: 1\ndata : 2\n data: 3\nDATA: 4\nfoo: 5\nEvent: e\nID: 9\ndata: ok\n\n"
    assert decode(body) == [E(data="ok")]


def test_invalid_utf8_becomes_replacement_character() -> None:
    assert datas(b"data: a\xffb\xc3\n\n") == ["a\ufffdb\ufffd"]
    assert decode(b"event: \xff\ndata: x\n\n") == [E(event="\ufffd", data="x")]


def test_multibyte_character_split_across_feeds() -> None:
    body = "data: é€😀\n\n".encode()
    for cut in range(len(body) + 1):
        assert datas(body[:cut], body[cut:]) == ["é€😀"], cut
    assert datas(*[bytes([b]) for b in body]) == ["é€😀"]


def test_accepts_bytearray_and_memoryview() -> None:
    assert datas(bytearray(b"data: a\n"), memoryview(b"\n")) == ["a"]


# --- end of input ------------------------------------------------------------


def test_unterminated_event_is_dropped_at_eof() -> None:
    assert decode(b"data: a\n") == []
    assert decode(b"data: a") == []
    assert decode(b"data: a\n\ndata: b\n") == [E(data="a")]


def test_close_forgets_the_unterminated_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: x\nid: 3\ndata: a\n") == []
    assert decoder.close() == []
    assert decoder.feed(b"data: b\n\n") == [E(data="b")]


# --- size limit --------------------------------------------------------------


def test_oversized_event_raises_protocol_error() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    with pytest.raises(ProtocolError, match="max_event_bytes=100") as info:
        decoder.feed(b"data: " + b"x" * 200 + b"\n\n")
    assert info.value.payload is not None
    assert info.value.payload.startswith("xxxx")


def test_limit_counts_raw_data_lines_and_current_line() -> None:
    line = b"data: " + b"x" * 14  # 20 bytes
    assert datas(line + b"\n\n") == ["x" * 14]
    assert SSEDecoder(20).feed(line + b"\n\n") == [E(data="x" * 14)]
    with pytest.raises(ProtocolError):
        SSEDecoder(19).feed(line + b"\n\n")
    # Several data lines add up; the blank line starts counting again.
    assert len(SSEDecoder(40).feed((line + b"\n") * 2 + b"\n" + (line + b"\n") * 2 + b"\n")) == 2
    with pytest.raises(ProtocolError):
        SSEDecoder(40).feed((line + b"\n") * 3 + b"\n")
    # Comment lines do not add up, they are only limited one by one.
    assert SSEDecoder(20).feed(b": " + b"c" * 18 + b"\n") == []
    assert SSEDecoder(20).feed((b": " + b"c" * 18 + b"\n") * 100) == []


def test_events_before_the_oversized_one_are_delivered_first() -> None:
    decoder = SSEDecoder(max_event_bytes=64)
    good = b"data: ok\n\n"
    assert decoder.feed(good + b"data: " + b"y" * 100 + b"\n\n" + good) == [E(data="ok")]
    with pytest.raises(ProtocolError):
        decoder.feed(good)
    with pytest.raises(ProtocolError):
        decoder.close()


def test_oversized_pending_event_raises_before_its_end() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    decoder.feed(b"data: " + b"a" * 50 + b"\n")
    with pytest.raises(ProtocolError) as info:
        decoder.feed(b"data: " + b"b" * 50 + b"\n")
    assert info.value.payload is not None
    assert info.value.payload.startswith("aaaa")


@pytest.mark.timeout(10)
def test_endless_line_fails_fast_with_bounded_memory() -> None:
    limit = 1024 * 1024
    piece = b"data: " + b"z" * (64 * 1024 - 6)
    decoder = SSEDecoder(max_event_bytes=limit)
    fed = 0
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError):
            while fed < 100 * limit:
                decoder.feed(piece)
                fed += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert fed <= limit  # raised by the first read that went past the limit
    assert peak < 3 * limit


def test_error_is_sticky() -> None:
    decoder = SSEDecoder(max_event_bytes=10)
    with pytest.raises(ProtocolError) as first:
        decoder.feed(b"x" * 11)
    with pytest.raises(ProtocolError) as again:
        decoder.feed(b"\n\ndata: a\n\n")
    assert again.value is first.value


def test_max_event_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SSEDecoder(0)


# --- recorded streams --------------------------------------------------------


RECORDED = _data.RECORDED
SSE_FILES = sorted(RECORDED.glob("*/*.sse"))

# Counted by hand: blank-line separated blocks that contain a data line.
EXPECTED_EVENTS = {
    "anthropic/01_text_padded_json.sse": 10,
    "anthropic/02_tool_use_padded_json.sse": 16,
    "anthropic/03_text_multibyte.sse": 15,
    "anthropic/04_text_then_tool_use.sse": 15,
    "anthropic/05_max_tokens_inside_tool_json.sse": 16,
    "anthropic/06_thinking_signature_tool_use.sse": 17,
    "anthropic/07_parallel_tool_use.sse": 17,
    "anthropic/08_error_event_overloaded.sse": 4,
    "anthropic/09_thinking_then_refusal_synthetic.sse": 14,
    "gemini/01_text_then_malformed_function_call_tail.sse": 5,
    "gemini/02_text_thinking_model.sse": 2,
    "gemini/03_function_call_thought_signature.sse": 1,
    "gemini/04_function_call_with_id.sse": 2,
    "gemini/05_text_trailing_signature_part.sse": 4,
    "mistral/01_text.sse": 6,
    "mistral/02_tool_call_whole.sse": 3,
    "openai-chat/01_text_usage.sse": 34,
    "openai-chat/02_n3_interleaved_choices.sse": 50,
    "openai-chat/03_finish_length.sse": 5,
    "openai-chat/04_refusal.sse": 14,
    "openai-chat/05_content_logprobs.sse": 6,
    "openai-chat/06_tool_call_single.sse": 18,
    "openai-chat/07_tool_calls_parallel.sse": 26,
    "openai-chat/08_midstream_error.sse": 5,
    "openai-compatible/01_deepinfra_reasoning_content_tool.sse": 10,
    "openai-compatible/02_text_then_tool_call_index_1.sse": 9,
    "openai-responses/01_text.sse": 13,
    "openai-responses/02_function_call.sse": 27,
    "openai-responses/03_reasoning_parallel_function_calls.sse": 17,
    "openai-responses/04_error_event.sse": 4,
    "openai-responses/05_response_failed.sse": 4,
}


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def test_all_expected_recordings_are_present() -> None:
    assert {_name(path) for path in SSE_FILES} == set(EXPECTED_EVENTS)


@pytest.mark.parametrize("path", SSE_FILES, ids=_name)
def test_recorded_stream(path: Path) -> None:
    body = path.read_bytes()
    events = decode(body)
    assert len(events) == EXPECTED_EVENTS[_name(path)]
    for event in events:
        if event.data == "[DONE]":
            assert event is events[-1]
            continue
        payload = json.loads(event.data)
        # Anthropic and the Responses API name each event after its JSON type.
        if event.event != "message":
            assert payload["type"] == event.event
    if path.parent.name in ("openai-chat", "openai-compatible", "mistral"):
        assert all(event.event == "message" for event in events)


@pytest.mark.parametrize(
    "path", [p for p in SSE_FILES if b"\r\n" in p.read_bytes()], ids=_name
)
def test_recorded_crlf_stream_equals_its_lf_form(path: Path) -> None:
    body = path.read_bytes()
    assert path.parent.name == "gemini"
    assert decode(body) == decode(body.replace(b"\r\n", b"\n"))
    assert decode(body) == decode(body.replace(b"\r\n", b"\r"))


def test_recorded_multibyte_text_survives_byte_by_byte_feeding() -> None:
    body = (RECORDED / "anthropic" / "03_text_multibyte.sse").read_bytes()
    events = decode(*[bytes([b]) for b in body])
    assert events == decode(body)
    deltas = [json.loads(e.data)["delta"] for e in events if e.event == "content_block_delta"]
    assert " 68°F\n- **" in [delta.get("text") for delta in deltas]
