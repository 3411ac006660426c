"""The chunked-body decoder reads the framing strictly and does bounded work
per byte: every malformed size line is a ``ProtocolError`` at once (a
negative size used to loop forever, freezing the reactor with it)."""

from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamactors._wire._chunked import Dechunker
from streamactors.errors import ProtocolError

MALFORMED = [
    b"-5\r\nhello\r\n",          # negative: int(b"-5", 16) == -5
    b"0x5\r\nhello\r\n",         # a 0x prefix: int() takes it
    b"+5\r\nhello\r\n",          # a sign: int() takes it
    b"5_0\r\n" + b"x" * 80 + b"\r\n",  # an underscore: int() takes it
    b" 5\r\nhello\r\n",          # a leading blank
    b"5\nhello\r\n",             # a bare LF
    b"\r\nhello\r\n",            # no size at all
    b"1" * 17 + b"\r\n",         # more hex digits than any real size
    b"zz\r\nhello\r\n",
    b"5\r\nhelloXY\r\n",         # data longer than its size
    b"5;ext\rx\r\nhello\r\n",    # a CR inside an extension
]


@pytest.mark.parametrize("wire", MALFORMED, ids=[repr(w[:10]) for w in MALFORMED])
def test_malformed_framing_is_a_protocol_error(wire: bytes) -> None:
    with pytest.raises(ProtocolError) as caught:
        Dechunker().feed(wire)
    assert "malformed chunked body" in caught.value.message


@pytest.mark.parametrize("wire", MALFORMED, ids=[repr(w[:10]) for w in MALFORMED])
def test_malformed_framing_split_anywhere_is_a_protocol_error(wire: bytes) -> None:
    for cut in range(1, len(wire)):
        d = Dechunker()
        with pytest.raises(ProtocolError):
            d.feed(wire[:cut])
            d.feed(wire[cut:])


def test_negative_size_after_a_good_chunk_in_the_same_read() -> None:
    with pytest.raises(ProtocolError):
        Dechunker().feed(b"3\r\nabc\r\n-5\r\n" + b"x" * 100)


def test_oversized_lines_and_trailer_floods_are_errors_not_memory() -> None:
    with pytest.raises(ProtocolError):
        Dechunker().feed(b"5;" + b"e" * 5000)
    d = Dechunker()
    d.feed(b"0\r\n")
    with pytest.raises(ProtocolError, match="trailer"):
        for i in range(100):
            d.feed(b"X-T%d: 1\r\n" % i)


def test_valid_forms() -> None:
    d = Dechunker()
    assert d.feed(b"A\r\n0123456789\r\n") == b"0123456789"
    assert d.feed(b"a \t;name=value\r\n0123456789\r\n") == b"0123456789"
    assert d.feed(b"0000000000000003\r\nabc\r\n") == b"abc"
    assert d.feed(b"0;last\r\nX-Trailer: 1\r\n\r\n") == b"" and d.done


def test_bytes_after_the_end_are_surplus_not_payload() -> None:
    d = Dechunker()
    assert d.feed(b"3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n") == b"abc"
    assert d.done and d.surplus == b"HTTP/1.1 200 OK\r\n"
    assert d.feed(b"more") == b"" and d.surplus.endswith(b"more")
    clean = Dechunker()
    clean.feed(b"3\r\nabc\r\n0\r\n\r\n")
    assert clean.done and clean.surplus == b""


def test_work_is_linear_in_the_input() -> None:
    # 1 MB of one-byte chunks, fed in 64 KiB reads: about 0.1 s, never a hang.
    wire = b"1\r\nx\r\n" * (1 << 20 // 6) + b"0\r\n\r\n"
    d = Dechunker()
    start = time.perf_counter()
    out = b"".join(d.feed(wire[i : i + 65536]) for i in range(0, len(wire), 65536))
    assert d.done and out == b"x" * (1 << 20 // 6)
    assert time.perf_counter() - start < 5.0


def _chunked(pieces: list[bytes], trailers: bytes = b"") -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return body + b"0\r\n" + trailers + b"\r\n"


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(st.binary(min_size=1, max_size=40), max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=20),
    trailers=st.sampled_from([b"", b"X-Trailer: 1\r\n"]),
)
def test_dechunker_any_split(pieces: list[bytes], cuts: list[int], trailers: bytes) -> None:
    wire = _chunked(pieces, trailers)
    bounds = sorted({0, len(wire), *(c for c in cuts if c < len(wire))})
    d = Dechunker()
    out = b"".join(d.feed(wire[a:b]) for a, b in itertools.pairwise(bounds))
    assert out == b"".join(pieces)
    assert d.done


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(st.binary(min_size=1, max_size=40), max_size=12))
def test_dechunker_one_chunk_per_read(pieces: list[bytes]) -> None:
    # How a paced server sends: each read is exactly one whole chunk (the
    # decoder's fast path), payloads holding CRLFs and hex digits included.
    wire = _chunked(pieces)
    frames = [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces]
    d = Dechunker()
    out = [d.feed(f) for f in frames]
    assert out == pieces
    assert d.feed(wire[sum(map(len, frames)):]) == b"" and d.done


def test_dechunker_whole_chunks_with_extensions_and_errors() -> None:
    d = Dechunker()
    assert d.feed(b"3;x=1\r\nabc\r\n") == b"abc"
    assert d.feed(b"3\r\nabc\r\n") == b"abc"
    with pytest.raises(ProtocolError):
        Dechunker().feed(b"3\r\nabcd\r\n")  # data longer than its size
    with pytest.raises(ProtocolError):
        Dechunker().feed(b"zz\r\nab\r\n")


def test_dechunker_extensions_and_errors() -> None:
    d = Dechunker()
    assert d.feed(b"3;ext=1\r\nabc\r\n0\r\n\r\n") == b"abc" and d.done
    with pytest.raises(ProtocolError):
        Dechunker().feed(b"zz\r\nabc\r\n")
    with pytest.raises(ProtocolError):
        Dechunker().feed(b"2\r\nabc\r\n")
    with pytest.raises(ProtocolError):
        Dechunker().feed(b"1" * 5000)
