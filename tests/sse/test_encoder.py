"""encode(): exact bytes for the simple cases, and decode(encode(e)) == e."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamactors.sse import ServerSentEvent, SSEDecoder, encode

E = ServerSentEvent


def decode(body: bytes) -> list[E]:
    decoder = SSEDecoder()
    return decoder.feed(body) + decoder.close()


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"data": "hello"}, b"data: hello\n\n"),
        ({"data": ""}, b"data:\n\n"),
        ({"data": " padded"}, b"data:  padded\n\n"),
        ({"data": "a\nb"}, b"data: a\ndata: b\n\n"),
        ({"data": "a\r\nb\rc\n"}, b"data: a\ndata: b\ndata: c\ndata:\n\n"),
        ({"data": "x", "event_type": "delta"}, b"event: delta\ndata: x\n\n"),
        ({"data": "x", "event_type": "message"}, b"data: x\n\n"),
        ({"data": "x", "id": "7"}, b"id: 7\ndata: x\n\n"),
        ({"data": "x", "retry": 1000}, b"retry: 1000\ndata: x\n\n"),
        ({"comment": "ping"}, b": ping\n\n"),
        ({"comment": ""}, b":\n\n"),
        ({"comment": "a\nb"}, b": a\n: b\n\n"),
        ({"retry": 5}, b"retry: 5\n\n"),
        ({"id": ""}, b"id\n\n"),
        ({"data": "é😀\u2028"}, "data: é😀\u2028\n\n".encode()),
        (
            {"data": "x", "event_type": "e", "id": "1", "retry": 2, "comment": "c"},
            b": c\nevent: e\nid: 1\nretry: 2\ndata: x\n\n",
        ),
    ],
)
def test_exact_bytes(kwargs: dict[str, object], expected: bytes) -> None:
    assert encode(**kwargs) == expected  # type: ignore[arg-type]


def test_event_object() -> None:
    assert encode(E()) == b"data:\n\n"
    assert encode(E(data="x")) == b"data: x\n\n"
    assert encode(E("delta", "x", "9", 30)) == b"event: delta\nid: 9\nretry: 30\ndata: x\n\n"


def test_keywords_override_the_event() -> None:
    assert encode(E("a", "x", "1"), data="y", event_type="b") == b"event: b\nid: 1\ndata: y\n\n"
    assert encode(E(data="x"), comment="hi") == b": hi\ndata: x\n\n"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": "x", "event_type": "a\nb"},
        {"data": "x", "event_type": "a\rb"},
        {"data": "x", "id": "a\nb"},
        {"data": "x", "id": "a\x00b"},
        {"data": "x", "retry": -1},
        {"data": "x", "retry": 1.5},
        {"data": "x", "retry": True},
        {},
    ],
)
def test_invalid_input_raises_value_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        encode(**kwargs)  # type: ignore[arg-type]


def test_comment_only_dispatches_nothing() -> None:
    assert decode(encode(comment="keep-alive") + encode(data="x")) == [E(data="x")]


_line_free = st.text(max_size=20).filter(lambda s: "\r" not in s and "\n" not in s)
_events = st.builds(
    E,
    event=_line_free.filter(bool),
    data=st.text(max_size=40),
    id=_line_free.filter(lambda s: "\x00" not in s),
    retry=st.none() | st.integers(min_value=0, max_value=10**12),
)


@settings(max_examples=300, deadline=None)
@given(_events)
def test_round_trip(event: E) -> None:
    expected = E(
        event.event,
        event.data.replace("\r\n", "\n").replace("\r", "\n"),  # the only line end SSE keeps
        event.id,
        event.retry,
    )
    assert decode(encode(event)) == [expected]
    if "\r" not in event.data:
        assert decode(encode(event)) == [event]


@settings(max_examples=100, deadline=None)
@given(st.lists(_events.filter(lambda e: e.id != "" and "\r" not in e.data), max_size=5))
def test_round_trip_of_a_stream(events: list[E]) -> None:
    assert decode(b"".join(encode(event) for event in events)) == events
