"""Arbitrary bytes into the HTTP chunked-body decoder: only ``ProtocolError``
comes out, the work ends (each call consumes its input), and any split of the
bytes gives the same payload or the same error. SSE and NDJSON framing are
fuzzed in ``test_codecs_fuzz.py``; ``FUZZ_EXAMPLES`` runs longer."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamactors._wire._chunked import Dechunker
from streamactors.errors import ProtocolError

pytestmark = pytest.mark.timeout(120)

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")), deadline=None,
                database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: Pieces of chunked framing, good and bad, so random bytes look like it.
TOKENS = [b"0", b"1", b"5", b"a", b"F", b"-", b"+", b"x", b"0x", b"_", b" ", b"\t", b";",
          b"=", b"\r", b"\n", b"\r\n", b"hello", b"ffffffffffffffff", b"10000000000000000"]
wires = st.one_of(
    st.binary(max_size=400),
    st.lists(st.sampled_from(TOKENS), max_size=60).map(b"".join),
)


def _decode(pieces: list[bytes]) -> tuple[bytes, bool] | None:
    d = Dechunker()
    out = []
    try:
        for p in pieces:
            out.append(d.feed(p))
    except ProtocolError:
        return None
    return b"".join(out), d.done


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    out.append(data[last:])
    return out


@FUZZ
@given(wire=wires, cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_dechunker_on_arbitrary_bytes(wire: bytes, cuts: list[int]) -> None:
    whole = _decode([wire])
    pieced = _decode(_split(wire, cuts))
    # The same bytes, however split: the same payload and state, or an error
    # both ways.
    assert whole == pieced
    assert whole is None or len(whole[0]) <= len(wire)
