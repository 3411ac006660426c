"""However the bytes are cut into reads, SSEDecoder yields the same events,
and those are the events a plain reading of the spec gives."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamactors.errors import ProtocolError
from streamactors.sse import ServerSentEvent, SSEDecoder

from .. import _data

# --- a slow, obvious implementation of the spec, as the oracle ----------------

_LINE_END = re.compile("\r\n|\r|\n")


def reference(body: bytes) -> tuple[list[ServerSentEvent], str, int | None]:
    """Events, last event ID and retry of a complete body, straight from the spec."""
    text = body.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = _LINE_END.split(text)
    lines.pop()  # the unterminated last line (or "") never counts
    events: list[ServerSentEvent] = []
    state = _State()
    last_id = ""
    for line in lines:
        if line == "":
            last_id = state.id_buffer
            if state.data:
                events.append(ServerSentEvent(state.event_type or "message", state.data[:-1],
                                              state.id_buffer, state.event_retry))
            state.data, state.event_type, state.event_retry = "", "", None
        elif not line.startswith(":"):
            state.field(line)
    return events, last_id, state.retry


class _State:
    """The spec's buffers while one event is being read."""

    def __init__(self) -> None:
        self.data = self.event_type = self.id_buffer = ""
        self.retry: int | None = None
        self.event_retry: int | None = None

    def field(self, line: str) -> None:
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self.data += value + "\n"
        elif name == "event":
            self.event_type = value
        elif name == "id" and "\0" not in value:
            self.id_buffer = value
        elif name == "retry" and value and all(c in "0123456789" for c in value):
            self.retry = self.event_retry = int(value)


def run(pieces: list[bytes]) -> tuple[list[ServerSentEvent], str, int | None]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for piece in pieces:
        events += decoder.feed(piece)
    events += decoder.close()
    return events, decoder.last_event_id, decoder.retry


def cut(body: bytes, points: list[int]) -> list[bytes]:
    bounds = [0, *sorted(p % (len(body) + 1) for p in points), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(bounds)]


# --- generated streams ---------------------------------------------------------

_value_text = st.text(
    alphabet=st.sampled_from(
        [*'ab :,{}"\\0\t', "é", "€", "😀", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\ufeff",
         "\x00"]
    ),
    max_size=12,
)
_digits = st.sampled_from(["0", "7", "1500", "10a", "-5", "+5", "1.5", " 7", ""])

_line = st.one_of(
    _value_text.map(lambda v: "data: " + v),
    _value_text.map(lambda v: "data:" + v),
    st.just("data"),
    _value_text.map(lambda v: "event: " + v),
    _value_text.map(lambda v: "id: " + v),
    st.just("id"),
    _digits.map(lambda v: "retry: " + v),
    _value_text.map(lambda v: ":" + v),
    st.sampled_from(["Data: x", "data : x", " data: x", "foo: bar", "foo"]),
    st.just(""),
    st.just(""),
).map(str.encode)

_eol = st.sampled_from([b"\n", b"\r", b"\r\n"])
_raw_bytes = st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\xef\xbb\xbf", b"\xf0\x9f"])


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    parts: list[bytes] = []
    if draw(st.booleans()):
        parts.append(b"\xef\xbb\xbf")
    for _ in range(draw(st.integers(0, 14))):
        parts.append(draw(_line))
        if draw(st.integers(0, 9)) == 0:
            parts.append(draw(_raw_bytes))
        parts.append(draw(_eol))
    if draw(st.booleans()):
        parts.append(draw(_line))  # unterminated tail
    return b"".join(parts)


@settings(max_examples=300, deadline=None)
@given(streams())
def test_whole_stream_matches_reference(body: bytes) -> None:
    assert run([body]) == reference(body)


@settings(max_examples=300, deadline=None)
@given(streams(), st.lists(st.integers(min_value=0), max_size=8))
def test_any_split_matches_whole(body: bytes, points: list[int]) -> None:
    assert run(cut(body, points)) == run([body])


@settings(max_examples=100, deadline=None)
@given(streams())
def test_one_byte_at_a_time_matches_whole(body: bytes) -> None:
    assert run([body[i : i + 1] for i in range(len(body))]) == run([body])


def _at_blank_lines(body: bytes) -> list[bytes]:
    """``body`` cut after every ``\\n\\n``: how a paced server sends it, one
    event per read (the decoder's fast path)."""
    pieces = []
    start = 0
    while (at := body.find(b"\n\n", start)) >= 0:
        pieces.append(body[start : at + 2])
        start = at + 2
    return [*pieces, body[start:]]


@settings(max_examples=300, deadline=None)
@given(streams())
def test_one_event_per_read_matches_reference(body: bytes) -> None:
    assert run(_at_blank_lines(body)) == reference(body)


#: Reads of whole events in every state a decoder can be in between reads.
_WHOLE_EVENT_READS = [
    [b"data: a\n\n", b"event: x\ndata: b\n\n", b"data: c\n\n"],
    [b"event: x\n", b"data: a\n\n", b"data: b\n\n"],  # a pending type
    [b"id: 7\n", b"data: a\n\n", b"data: b\n\n"],  # the id persists
    [b"retry: 5\n", b"data: a\n\n", b"data: b\n\n"],  # retry of the first only
    [b"data: a\n", b"data: b\n\n", b"data: c\n\n"],  # pending data lines
    [b"data: a\r", b"\ndata: b\n\n"],  # a CRLF split across reads
    [b"data: a\rdata: b\n\n", b"event: \ndata: c\n\n"],  # CR inside, empty type
    [b"event: e\nid: 1\ndata: a\n\n", b"event: e\ndata: \xff\n\n"],
    [b"\xef\xbb\xbfdata: a\n\n", b"data: b\n\n"],  # the first read decides the BOM
    [b"data: a\n\n", b"data:b\n\n", b"data: \xff\n\n", b"data: \n\n"],
]


@pytest.mark.parametrize("pieces", _WHOLE_EVENT_READS)
def test_whole_event_reads_in_any_state(pieces: list[bytes]) -> None:
    body = b"".join(pieces)
    assert run(pieces) == reference(body)
    assert run(pieces) == run([body])


def test_whole_event_reads_keep_the_size_limit() -> None:
    decoder = SSEDecoder(max_event_bytes=10)
    assert decoder.feed(b"data: 1234\n\n")[0].data == "1234"  # 10 bytes: at the limit
    with pytest.raises(ProtocolError):
        decoder.feed(b"data: 12345\n\n")
    decoder = SSEDecoder(max_event_bytes=10)
    decoder.feed(b"data: a\n\n")
    with pytest.raises(ProtocolError):
        decoder.feed(b"event: 12345\ndata: b\n\n")


def run_data_first(pieces: list[bytes]) -> tuple[list[ServerSentEvent], str, int | None]:
    """``run`` the way the readers take a paced stream: ``feed_one`` first
    (the data of one whole ``data:`` event, no event object), ``feed`` when
    it declines."""
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for piece in pieces:
        text = decoder.feed_one(piece)
        if text is None:
            events += decoder.feed(piece)
        else:
            events.append(ServerSentEvent("message", text, decoder.last_event_id, None))
    events += decoder.close()
    return events, decoder.last_event_id, decoder.retry


def _at_event_ends(body: bytes) -> list[bytes]:
    """``body`` cut after every ``\\n\\n`` and every ``\\r\\n\\r\\n``: one event
    per read, whichever of the two line ends the server uses."""
    return cut(body, [m.end() for m in re.finditer(rb"\r\n\r\n|\n\n", body)])


@settings(max_examples=300, deadline=None)
@given(streams())
def test_feed_one_first_matches_reference(body: bytes) -> None:
    assert run_data_first(_at_blank_lines(body)) == reference(body)


@settings(max_examples=300, deadline=None)
@given(streams())
def test_feed_one_first_with_crlf_event_ends_matches_reference(body: bytes) -> None:
    assert run_data_first(_at_event_ends(body)) == reference(body)


@pytest.mark.parametrize("pieces", [
    *_WHOLE_EVENT_READS,
    [b"data: a\r\n\r\n", b"data: b\r\n\r\n", b"data: c\n\n"],  # Gemini's CRLF
    [b"data: a\r", b"\n\r\n", b"data: b\r\n\r\n"],  # a CR pending, then whole
    [b"data: a\n\r\n\r\n", b"data: b\r\n\r\n"],  # an extra blank line
    [b"data: a\rb\r\n\r\n", b"data: \r\n\r\n"],  # CR inside, empty data
])
def test_feed_one_in_any_state(pieces: list[bytes]) -> None:
    assert run_data_first(pieces) == reference(b"".join(pieces))


def test_feed_one_takes_crlf_events() -> None:
    decoder = SSEDecoder(max_event_bytes=10)
    decoder.feed(b": start\n\n")
    assert decoder.feed_one(b"data: a\r\n\r\n") == "a"
    assert decoder.feed_one(b"data: 1234\r\n\r\n") == "1234"  # 10 bytes: at the limit
    assert decoder.feed_one(b"data: 12345\r\n\r\n") is None
    for declined in (b"data: a\r\n\n", b"data: a\n\r\n", b"data: a\rb\r\n\r\n",
                     b"data: a\r\r\n\r\n", b"data: a\n\r\n\r\n", b"data: a\r\r"):
        assert decoder.feed_one(declined) is None, declined


def test_feed_one_declines_without_changing_anything() -> None:
    decoder = SSEDecoder(max_event_bytes=10)
    assert decoder.feed_one(b"data: a\n\n") is None  # the start of the stream: feed decides
    assert decoder.feed(b"data: a\n\n")[0].data == "a"
    assert decoder.feed_one(b"data: 1234\n\n") == "1234"  # 10 bytes: at the limit
    for declined in (b"data: 12345\n\n", b"event: e\ndata: b\n\n", b"data: a\r\n\n",
                     b"data: a\ndata: b\n\n", b"data: a\n", b"id: 3\n\n", b": ping\n\n"):
        assert decoder.feed_one(declined) is None, declined
    assert decoder.last_event_id == ""
    decoder.feed(b"id: 3\n")  # the ID buffer is set at once (the spec)
    assert decoder.last_event_id == ""
    assert decoder.feed_one(b"data: b\n\n") == "b"
    assert decoder.last_event_id == "3"  # committed by the blank line, as feed would
    decoder.feed(b"event: e\n")  # a pending type: the general way
    assert decoder.feed_one(b"data: c\n\n") is None
    assert decoder.feed(b"data: c\n\n")[0].event == "e"
    decoder.feed(b"retry: 5\n")  # a pending retry belongs to the next event
    assert decoder.feed_one(b"data: d\n\n") is None
    assert decoder.feed(b"data: d\n\n")[0].retry == 5
    decoder.feed(b"data: x\r")  # a CR may be the first half of a CRLF
    assert decoder.feed_one(b"data: e\n\n") is None


@pytest.mark.parametrize("limit_breaker", [b"event: " + b"e" * 20 + b"\n", b"x" * 20])
def test_feed_one_declines_after_an_error(limit_breaker: bytes) -> None:
    """The error is sticky for ``feed_one`` too: it declines, ``feed`` raises."""
    decoder = SSEDecoder(max_event_bytes=10)
    decoder.feed(b"data: a\n\n")
    with pytest.raises(ProtocolError):
        decoder.feed(limit_breaker)
    assert decoder.feed_one(b"data: b\n\n") is None
    with pytest.raises(ProtocolError):
        decoder.feed(b"data: b\n\n")


def test_typed_event_reads_need_nothing_pending() -> None:
    """``feed``'s own shortcut (an ``event:`` line, then a ``data:`` line)
    gives what the general way gives, whatever is pending."""
    for before in (b"", b"data: p\n", b"id: 9\n", b"retry: 3\n", b"event: old\n", b"data: q\r"):
        body = before + b"event: e\ndata: x\n\n" + b"event: f\ndata: y\n\n"
        pieces = [before, b"event: e\ndata: x\n\n", b"event: f\ndata: y\n\n"]
        assert run(pieces) == reference(body), before


@pytest.mark.parametrize(
    "body",
    [
        b"data: a\r\n\r\n",
        b"\xef\xbb\xbfdata: \xe2\x82\xac\r\rdata: b\r\n\n",
        b"id: 1\rdata: x\r\n\r\nretry: 5\r\r",
    ],
)
def test_every_split_point_of_tricky_bodies(body: bytes) -> None:
    whole = run([body])
    assert whole[0]  # the bodies do produce events
    for i in range(len(body) + 1):
        for j in range(i, len(body) + 1):
            assert run([body[:i], body[i:j], body[j:]]) == whole, (i, j)


# --- recorded streams, every split point ------------------------------------------


RECORDED = _data.RECORDED
SPLIT_FIXTURES = [
    "anthropic/03_text_multibyte.sse",
    "anthropic/09_thinking_then_refusal_synthetic.sse",
    "gemini/02_text_thinking_model.sse",
    "gemini/04_function_call_with_id.sse",
    "openai-chat/03_finish_length.sse",
    "openai-responses/04_error_event.sse",
]


def _variants(body: bytes) -> dict[str, bytes]:
    lf = body.replace(b"\r\n", b"\n")
    return {"as recorded": body, "crlf": lf.replace(b"\n", b"\r\n"), "cr": lf.replace(b"\n", b"\r")}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", SPLIT_FIXTURES)
def test_recorded_every_split_point(name: str) -> None:
    original = (RECORDED / name).read_bytes()
    expected = run([original])
    assert expected[0]
    for label, body in _variants(original).items():
        assert run([body]) == expected, label
        for i in range(len(body) + 1):
            assert run([body[:i], body[i:]]) == expected, (label, i)


@pytest.mark.parametrize(
    "path", sorted(RECORDED.glob("*/*.sse")), ids=lambda p: p.name
)
def test_recorded_one_byte_at_a_time(path: Path) -> None:
    body = path.read_bytes()
    expected = run([body])
    assert expected == reference(body)
    assert run([body[i : i + 1] for i in range(len(body))]) == expected
