"""The body readers: one per framing, chosen once per response, each strict
about where its body ends (a premature EOF, bytes past a Content-Length,
bytes after the end)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamactors._wire._bodies import (
    BodyReader,
    ChunkedBody,
    CloseBody,
    LengthBody,
    reader_for,
)
from streamactors.errors import ProtocolError, StreamConnectionError


def _chunked(payload: bytes, size: int = 7) -> bytes:
    pieces = [payload[i:i + size] for i in range(0, len(payload), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def _feed(reader: BodyReader, wire: bytes, cuts: list[int]) -> bytes:
    bounds = sorted({0, len(wire), *(c for c in cuts if c < len(wire))})
    return b"".join(reader.feed(wire[a:b]) for a, b in itertools.pairwise(bounds))


def test_the_table_picks_one_reader_per_framing() -> None:
    assert type(reader_for(True, None)) is ChunkedBody
    assert type(reader_for(True, 10)) is ChunkedBody  # chunked wins over a length
    assert type(reader_for(False, 10)) is LengthBody
    assert type(reader_for(False, 0)) is LengthBody
    assert type(reader_for(False, None)) is CloseBody


@settings(max_examples=150, deadline=None)
@given(payload=st.binary(max_size=300), cuts=st.lists(st.integers(0, 400), max_size=12))
def test_every_reader_gives_the_payload_however_it_is_cut(payload: bytes,
                                                          cuts: list[int]) -> None:
    chunked = reader_for(True, None)
    assert _feed(chunked, _chunked(payload), cuts) == payload and chunked.done
    counted = reader_for(False, len(payload))
    assert _feed(counted, payload, cuts) == payload and counted.done
    closed = reader_for(False, None)
    assert _feed(closed, payload, cuts) == payload and not closed.done
    for reader in (chunked, counted, closed):
        reader.eof()  # the server closes after a complete body: no error
        assert reader.done and reader.surplus == b""


def test_length_body_ends_at_its_count() -> None:
    body = LengthBody(5)
    assert body.feed(b"ab") == b"ab" and not body.done
    assert body.feed(b"cde") == b"cde" and body.done
    assert body.surplus == b""


def test_an_empty_length_body_is_done_at_once() -> None:
    assert LengthBody(0).done


def test_length_body_cut_short_is_a_connection_error() -> None:
    body = LengthBody(10)
    body.feed(b"abc")
    with pytest.raises(StreamConnectionError, match="7 body bytes missing"):
        body.eof()


def test_bytes_past_the_length_in_the_last_read_are_a_protocol_error() -> None:
    body = LengthBody(3)
    with pytest.raises(ProtocolError, match="2 bytes more than its Content-Length") as caught:
        body.feed(b"abcXY")
    assert caught.value.payload == "XY"


def test_bytes_after_a_finished_length_body_are_surplus_not_payload() -> None:
    body = LengthBody(3)
    assert body.feed(b"abc") == b"abc"
    assert body.feed(b"HTTP/1.1 200 OK\r\n") == b""
    assert body.done and body.surplus == b"HTTP/1.1 200 OK\r\n"


def test_a_negative_length_is_refused() -> None:
    with pytest.raises(ValueError, match="never negative"):
        LengthBody(-1)


def test_chunked_body_cut_short_is_a_connection_error() -> None:
    body = ChunkedBody()
    assert body.feed(b"3\r\nabc\r\n") == b"abc"
    with pytest.raises(StreamConnectionError, match="before the end of the chunked body"):
        body.eof()


def test_chunked_body_keeps_the_strict_framing_and_the_surplus() -> None:
    with pytest.raises(ProtocolError, match="malformed chunked body"):
        ChunkedBody().feed(b"-5\r\nhello\r\n")
    body = ChunkedBody()
    assert body.feed(b"3\r\nabc\r\n0\r\n\r\nextra") == b"abc"
    assert body.done and body.surplus == b"extra"


def test_a_close_delimited_body_ends_only_at_eof() -> None:
    body = CloseBody()
    assert body.feed(b"abc") == b"abc" and not body.done
    body.eof()
    assert body.done and body.surplus == b""
