"""Gaps between a stream's deliveries of content: the sans-I/O counter, and
a real paced stream with a stall in the middle (loopback server)."""

from __future__ import annotations

import pytest

import streamactors as sa
from streamactors._gaps import BOUNDS, STALL_SECONDS, Gaps
from streamactors.testing import Fault, LoopbackServer, Script


def test_no_gap_before_the_second_delivery() -> None:
    assert Gaps().summary() is None


def test_percentiles_max_and_stalls() -> None:
    gaps = Gaps()
    for g in [0.01] * 98 + [0.5, 3.0]:
        gaps.add(g)
    s = gaps.summary()
    assert s is not None
    assert (s.count, s.max, s.stalls) == (100, 3.0, 1)
    assert s.p50 == pytest.approx(0.01, rel=0.15) and s.p99 == pytest.approx(0.5, rel=0.15)
    assert s.stall_seconds == STALL_SECONDS


def test_every_bucket_is_within_fifteen_percent() -> None:
    for gap in (0.00005, 0.0003, 0.0123, 0.2, 1.7, 42.0, 900.0):
        gaps = Gaps()
        gaps.add(gap)
        gaps.add(gap)
        s = gaps.summary()
        assert s is not None and s.p50 <= gap * 1.0 + 1e-12
        assert s.p50 == pytest.approx(gap, rel=0.15) or gap < BOUNDS[0] or gap > BOUNDS[-1]


def test_memory_is_bounded_and_max_and_stalls_stay_exact() -> None:
    gaps = Gaps()
    for i in range(50_000):
        gaps.add(2.0 if i == 31_337 else 0.02)
    assert len(gaps._counts) == len(BOUNDS) + 1  # the same few hundred bytes
    s = gaps.summary()
    assert s is not None and s.count == 50_000 and s.max == 2.0 and s.stalls == 1
    assert s.p50 == pytest.approx(0.02, rel=0.15) and s.p99 == pytest.approx(0.02, rel=0.15)


@pytest.mark.timeout(20)
def test_a_stream_that_stalls_in_the_middle_says_so(loopback_server: LoopbackServer) -> None:
    loopback_server.script = Script(text="a b c d e f", tokens_per_second=50,
                                    fault=Fault("stall", after=3, seconds=1.2))
    with sa.Client(base_url=loopback_server.url("openai"), api_key="k", max_retries=0) as c:
        result = c.chat("openai/gpt-4o-mini", [{"role": "user", "content": "Hi"}],
                        timeout=10).wait(10)
    gaps = result.gaps
    assert gaps is not None and gaps.count >= 4
    assert gaps.stalls == 1 and 1.1 < gaps.max < 2.5
    assert gaps.p50 < 0.2  # the rest came at the pace of the script
