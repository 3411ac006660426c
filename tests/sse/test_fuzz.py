"""Random bytes, random reads, small limits: the decoders fail only with
ProtocolError, and whether and where they fail does not depend on the reads."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from streamactors.errors import ProtocolError
from streamactors.ndjson import NDJSONDecoder
from streamactors.sse import ServerSentEvent, SSEDecoder

# Bytes that matter to the parsers, so random input reaches every branch.
_tokens = st.sampled_from(
    [b"data", b"data:", b"data: ", b"event: ", b"id: ", b"retry: ", b"12", b":", b" ",
     b"\r", b"\n", b"\r\n", b"\x00", b"\xef\xbb\xbf", b"\xef", b"\xff", b"\xc3", b"\xa9",
     b"{}", b"x", b"\t"]
)
_bodies = st.one_of(st.binary(max_size=300), st.lists(_tokens, max_size=60).map(b"".join))
_limits = st.one_of(st.integers(min_value=1, max_value=40), st.just(8 * 1024 * 1024))


def _cut(body: bytes, points: list[int]) -> list[bytes]:
    bounds = [0, *sorted(p % (len(body) + 1) for p in points), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(bounds)]


def _sse(pieces: list[bytes], limit: int) -> tuple[list[ServerSentEvent], bool]:
    """Events delivered, and whether a ProtocolError ended the stream."""
    decoder = SSEDecoder(limit)
    events: list[ServerSentEvent] = []
    try:
        for piece in pieces:
            events += decoder.feed(piece)
        events += decoder.close()
    except ProtocolError:
        return events, True
    return events, False


def _ndjson(pieces: list[bytes], limit: int) -> tuple[list[str], bool]:
    decoder = NDJSONDecoder(limit)
    lines: list[str] = []
    try:
        for piece in pieces:
            lines += decoder.feed(piece)
        lines += decoder.close()
    except ProtocolError:
        return lines, True
    return lines, False


@settings(max_examples=400, deadline=None)
@given(_bodies, st.lists(st.integers(min_value=0), max_size=10), _limits)
def test_sse_random_input(body: bytes, points: list[int], limit: int) -> None:
    # Anything but ProtocolError propagates and fails the test.
    assert _sse(_cut(body, points), limit) == _sse([body], limit)


@settings(max_examples=400, deadline=None)
@given(_bodies, st.lists(st.integers(min_value=0), max_size=10), _limits)
def test_ndjson_random_input(body: bytes, points: list[int], limit: int) -> None:
    assert _ndjson(_cut(body, points), limit) == _ndjson([body], limit)


@settings(max_examples=100, deadline=None)
@given(_bodies, st.integers(min_value=1, max_value=40))
def test_byte_by_byte_with_small_limits(body: bytes, limit: int) -> None:
    single = [body[i : i + 1] for i in range(len(body))]
    assert _sse(single, limit) == _sse([body], limit)
    assert _ndjson(single, limit) == _ndjson([body], limit)
