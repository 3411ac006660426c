"""NDJSONDecoder: framing of Ollama-style newline-delimited JSON."""

from __future__ import annotations

import itertools
import json
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamactors.errors import ProtocolError
from streamactors.ndjson import NDJSONDecoder

from .. import _data


def decode(*pieces: bytes | bytearray | memoryview, max_line_bytes: int | None = None) -> list[str]:
    decoder = NDJSONDecoder() if max_line_bytes is None else NDJSONDecoder(max_line_bytes)
    lines: list[str] = []
    for piece in pieces:
        lines += decoder.feed(piece)
    return lines + decoder.close()


def test_lf_lines() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"a":1}\n{"b":2}\n{"c"') == ['{"a":1}', '{"b":2}']
    assert decoder.feed(b":3}\n") == ['{"c":3}']
    assert decoder.close() == []


def test_crlf_lines() -> None:
    assert decode(b'{"a":1}\r\n{"b":2}\r\n') == ['{"a":1}', '{"b":2}']
    assert decode(b'{"a":1}\r', b'\n{"b":2}\r') == ['{"a":1}', '{"b":2}']


def test_lone_cr_is_not_a_line_end() -> None:
    assert decode(b'{"a":1}\r{"b":2}\n') == ['{"a":1}\r{"b":2}']


def test_blank_and_whitespace_lines_are_skipped() -> None:
    assert decode(b'\n\n{"a":1}\n  \n\t\r\n \x0c\n{"b":2}\n\n') == ['{"a":1}', '{"b":2}']
    assert decode(b"\n \r\n", b"   ") == []


def test_lines_split_across_feeds() -> None:
    body = b'{"message":{"content":"hi"},"done":false}\n{"done":true}\n'
    for cut in range(len(body) + 1):
        assert decode(body[:cut], body[cut:]) == [
            '{"message":{"content":"hi"},"done":false}',
            '{"done":true}',
        ], cut


def test_multibyte_character_split_across_feeds() -> None:
    body = '{"t":"é€😀"}\n'.encode()
    for cut in range(len(body) + 1):
        assert decode(body[:cut], body[cut:]) == ['{"t":"é€😀"}'], cut


def test_unicode_line_separators_are_not_line_ends() -> None:
    text = '{"t":"a\u2028b\u2029c\x85d"}'
    assert decode(text.encode() + b"\n") == [text]


def test_invalid_utf8_becomes_replacement_character() -> None:
    assert decode(b'{"t":"\xff\xc3"}\n') == ['{"t":"\ufffd\ufffd"}']


def test_leading_bom_is_stripped_once() -> None:
    assert decode(b'\xef\xbb\xbf{"a":1}\n') == ['{"a":1}']
    assert decode(b"\xef", b"\xbb", b'\xbf{"a":1}\n') == ['{"a":1}']
    assert decode(b'\xef\xbb\xbf\xef\xbb\xbf{"a":1}\n') == ['\ufeff{"a":1}']
    assert decode(b'{"a":1}\n\xef\xbb\xbf{"b":2}\n') == ['{"a":1}', '\ufeff{"b":2}']


def test_a_body_that_only_began_like_a_bom_keeps_its_bytes() -> None:
    """Bytes held while they could still start a BOM are content once the
    body ends: the same line with or without its LF."""
    assert decode(b"\xef\xbb") == decode(b"\xef\xbb\n") == ["\ufffd"]
    assert decode(b"\xef", b"\xbb") == ["\ufffd"]
    assert decode(b"\xef\xbb\xbf") == []


def test_undecided_bom_bytes_count_toward_the_line_limit() -> None:
    # Two bytes that turned out not to be a BOM join the first line: 11 bytes.
    with pytest.raises(ProtocolError):
        decode(b"\xef\xbb", b"cdefghijk\n", max_line_bytes=10)
    assert decode(b"\xef\xbb", b"cdefghij\n", max_line_bytes=10) == ["\ufffdcdefghij"]
    assert decode(b"\xef\xbb", b"\xbfcdefghijkl\n", max_line_bytes=10) == ["cdefghijkl"]


def test_final_line_without_newline_is_returned_by_close() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"a":1}\n{"done":true}') == ['{"a":1}']
    assert decoder.close() == ['{"done":true}']
    assert decode(b'{"done":true}\r') == ['{"done":true}']


def test_accepts_bytearray_and_memoryview() -> None:
    assert decode(bytearray(b'{"a":1}'), memoryview(b"\n")) == ['{"a":1}']


def test_oversized_line_raises_protocol_error() -> None:
    decoder = NDJSONDecoder(max_line_bytes=10)
    with pytest.raises(ProtocolError, match="max_line_bytes=10") as info:
        decoder.feed(b'{"t":"' + b"x" * 20 + b'"}\n')
    assert info.value.payload is not None
    assert info.value.payload.startswith('{"t":"xxx')


def test_limit_is_per_line_without_its_newline() -> None:
    assert decode(b"1234567890\n" * 3, max_line_bytes=10) == ["1234567890"] * 3
    with pytest.raises(ProtocolError):
        decode(b"12345678901\n", max_line_bytes=10)
    with pytest.raises(ProtocolError):
        decode(b"12345", b"678901", max_line_bytes=10)  # also while incomplete


def test_lines_before_the_oversized_one_are_delivered_first() -> None:
    decoder = NDJSONDecoder(max_line_bytes=10)
    assert decoder.feed(b"1\n2\n" + b"x" * 50 + b"\n3\n") == ["1", "2"]
    with pytest.raises(ProtocolError):
        decoder.feed(b"4\n")
    with pytest.raises(ProtocolError):
        decoder.close()


@pytest.mark.timeout(10)
def test_endless_line_fails_fast_with_bounded_memory() -> None:
    limit = 1024 * 1024
    piece = b"z" * (64 * 1024)
    decoder = NDJSONDecoder(max_line_bytes=limit)
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
    assert fed <= limit
    assert peak < 3 * limit


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(max_size=8), max_size=8),
    st.sampled_from([b"\n", b"\r\n"]),
    st.lists(st.integers(min_value=0), max_size=6),
)
def test_any_split_gives_the_same_lines(texts: list[str], eol: bytes, points: list[int]) -> None:
    lines = [json.dumps(text, ensure_ascii=False) for text in texts]
    body = b"".join(line.encode() + eol for line in lines)
    bounds = [0, *sorted(p % (len(body) + 1) for p in points), len(body)]
    assert decode(*[body[a:b] for a, b in itertools.pairwise(bounds)]) == lines


# --- recorded streams --------------------------------------------------------


RECORDED = _data.RECORDED
NDJSON_FILES = sorted(RECORDED.glob("*/*.ndjson"))
EXPECTED_LINES = {
    "01_chat_text_inline_think.ndjson": 210,
    "02_chat_tool_call.ndjson": 2,
    "03_chat_three_tool_calls.ndjson": 212,
}


def test_all_expected_recordings_are_present() -> None:
    assert {path.name for path in NDJSON_FILES} == set(EXPECTED_LINES)


@pytest.mark.parametrize("path", NDJSON_FILES, ids=lambda p: p.name)
def test_recorded_stream(path: Path) -> None:
    body = path.read_bytes()
    lines = decode(body)
    assert len(lines) == EXPECTED_LINES[path.name]
    objects = [json.loads(line) for line in lines]
    assert objects[-1]["done"] is True
    assert all(obj["done"] is False for obj in objects[:-1])
    assert decode(*[body[i : i + 7] for i in range(0, len(body), 7)]) == lines
    assert decode(body.replace(b"\n", b"\r\n")) == lines
