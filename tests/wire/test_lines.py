"""LineSplitter: however a body is cut into reads, the same lines come out,
and they are the lines a plain split of the whole body gives (one leading BOM
removed; CR, LF and CRLF for SSE, LF only for NDJSON)."""

from __future__ import annotations

import itertools
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamactors._wire._lines import LineSplitter

BOM = b"\xef\xbb\xbf"
_ANY_END = re.compile(rb"\r\n|\r|\n")


def reference(body: bytes, any_end: bool) -> tuple[list[bytes], bytes]:
    """The complete lines of a whole body and its unterminated rest."""
    if body.startswith(BOM):
        body = body[3:]
    lines = _ANY_END.split(body) if any_end else body.split(b"\n")
    return lines[:-1], lines[-1]


def run(pieces: list[bytes], any_end: bool) -> tuple[list[bytes], bytes]:
    """Every piece through one splitter, checking its counters on the way."""
    splitter = LineSplitter(any_end)
    lines: list[bytes] = []
    for piece in pieces:
        lines += splitter.split(piece)
        held = b"".join(splitter._tail)
        assert splitter.pending == len(held)
        assert splitter.head() == (splitter._tail[0] if held else b"")
    rest = splitter.end()
    assert (splitter.pending, splitter.idle, splitter.head()) == (0, False, b"")
    return lines, rest


def cut(body: bytes, points: list[int]) -> list[bytes]:
    bounds = [0, *sorted(p % (len(body) + 1) for p in points), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(bounds)]


TRICKY = [
    b"data: a\r\n\r\ndata: b\rdata: c\n\r\n",
    BOM + b"x\r\ry\n\nz\r\n",
    BOM + BOM + b"a\nb",
    b"\r\n\r\r\n\n\r",
    b"\xef\xbb\n\xbf\r\xef",
    b'{"a":1}\r\n{"b":"\xe2\x82\xac"}\n\n \r\n{"c"',
]


@pytest.mark.parametrize("any_end", [True, False], ids=["any-end", "lf-only"])
@pytest.mark.parametrize("body", TRICKY)
def test_every_split_point_in_two_and_three(body: bytes, any_end: bool) -> None:
    expected = reference(body, any_end)
    assert run([body], any_end) == expected
    for i in range(len(body) + 1):
        assert run([body[:i], body[i:]], any_end) == expected, i
        for j in range(i, len(body) + 1):
            assert run([body[:i], body[i:j], body[j:]], any_end) == expected, (i, j)


@pytest.mark.parametrize("any_end", [True, False], ids=["any-end", "lf-only"])
@pytest.mark.parametrize("body", TRICKY)
def test_one_byte_at_a_time_with_empty_reads_between(body: bytes, any_end: bool) -> None:
    pieces = [p for i in range(len(body)) for p in (body[i : i + 1], b"")]
    assert run(pieces, any_end) == reference(body, any_end)


_tokens = st.sampled_from([b"a", b"xyz", b" ", b"\r", b"\n", b"\r\n", BOM, b"\xef", b"\xbb",
                           b"\xbf", b"\xe2\x82\xac", b"\x85", b"\x0b", b"\x0c"])
_bodies = st.one_of(st.binary(max_size=200), st.lists(_tokens, max_size=50).map(b"".join))


@settings(max_examples=300, deadline=None)
@given(_bodies, st.lists(st.integers(min_value=0), max_size=8), st.booleans())
def test_any_split_matches_the_whole_body(body: bytes, points: list[int], any_end: bool) -> None:
    assert run(cut(body, points), any_end) == reference(body, any_end)


def test_lf_only_leaves_a_cr_in_the_line() -> None:
    splitter = LineSplitter(any_end=False)
    assert splitter.split(b"a\r\nb\rc\n") == [b"a\r", b"b\rc"]
    assert splitter.split(b"d\r") == []
    assert splitter.end() == b"d\r"


def test_cr_ending_a_read_ends_its_line_at_once() -> None:
    splitter = LineSplitter(any_end=True)
    assert splitter.split(b"a\r") == [b"a"]
    assert splitter.split(b"") == []  # an empty read does not forget the CR
    assert splitter.split(b"\nb\n") == [b"b"]  # that LF completed the CRLF
    assert splitter.split(b"c\r") == [b"c"]
    assert splitter.split(b"\r") == [b""]  # a second CR is a blank line


def test_the_bom_is_removed_once_at_the_start_of_each_body() -> None:
    splitter = LineSplitter(any_end=True)
    assert splitter.split(b"\xef") == []
    assert splitter.split(b"\xbb") == []
    assert splitter.pending == 0  # undecided BOM bytes are not a line yet
    assert splitter.split(b"\xbfa\n" + BOM + b"b\n") == [b"a", BOM + b"b"]
    assert splitter.end() == b""
    assert splitter.split(BOM + b"c\n") == [b"c"]  # a new body, a new start
    assert splitter.end() == b""
    assert splitter.split(b"\xef\xbb") == []
    assert splitter.split(b"x\n") == [b"\xef\xbbx"]  # not a BOM after all: kept


def test_idle_means_between_lines_with_nothing_held() -> None:
    splitter = LineSplitter(any_end=True)
    assert not splitter.idle  # the start (a BOM?) is not decided yet
    assert splitter.split(b"\xef\xbb") == [] and not splitter.idle
    assert splitter.split(b"\xbf") == [] and splitter.idle
    steps = [(b"a\n", True), (b"b", False), (b"\n", True), (b"c\r", False), (b"\n", True),
             (b"d\r\n", True), (b"e\rf", False), (b"\r\n", True), (b"\r", False), (b"x", False)]
    for read, idle in steps:
        splitter.split(read)
        assert splitter.idle is idle, read
    lf_only = LineSplitter(any_end=False)
    lf_only.split(b"a\r")
    assert not lf_only.idle
    lf_only.split(b"\n")
    assert lf_only.idle


def test_pending_counts_the_incomplete_line() -> None:
    splitter = LineSplitter(any_end=False)
    assert splitter.split(b"ab") == [] and splitter.pending == 2
    assert splitter.split(b"cd") == [] and splitter.pending == 4
    assert splitter.head() == b"ab"
    assert splitter.split(b"e\nfg") == [b"abcde"] and splitter.pending == 2
    assert splitter.head() == b"fg"


@pytest.mark.timeout(10)
def test_an_endless_line_in_tiny_reads_costs_linear_time() -> None:
    """Pieces are held, not joined per read: 200,000 one-byte reads of one
    line take well under a second (joining per read would copy 20 GB)."""
    splitter = LineSplitter(any_end=True)
    start = time.perf_counter()
    for _ in range(200_000):
        splitter.split(b"x")
    assert splitter.split(b"\n") == [b"x" * 200_000]
    assert time.perf_counter() - start < 5.0
