"""How evenly a stream arrived: the gaps between its deliveries of content.

Time to first token says how a stream started; a stream can also stall in
the middle. ``Gaps`` keeps, per stream, the time between consecutive
deliveries that carried content (text, reasoning, tool calls: one delivery is
one read of the socket, so chunks that arrived together make no gap), in
bounded memory: every gap counts towards ``max`` and ``stalls``; percentiles
come from at most ``KEPT`` gaps, a uniform sample of a longer stream.
Sans I/O: the caller measures the gaps.
"""

from __future__ import annotations

import random
from array import array

from pydantic import BaseModel, ConfigDict

__all__ = ["KEPT", "STALL_SECONDS", "GapSummary", "Gaps"]

#: Gaps kept for the percentiles (8 bytes each).
KEPT = 1024
#: A gap at least this long is a stall.
STALL_SECONDS = 1.0


class GapSummary(BaseModel):
    """The gaps between a stream's deliveries of content, in seconds.

    Attributes:
        count: how many gaps (deliveries of content after the first).
        p50, p99, max: the median, 99th percentile and longest gap.
        stalls: how many gaps lasted at least ``stall_seconds``.
        stall_seconds: the threshold (1 s).
    """

    model_config = ConfigDict(frozen=True)

    count: int
    p50: float
    p99: float
    max: float
    stalls: int
    stall_seconds: float = STALL_SECONDS


class Gaps:
    """The gaps of one stream as they happen (``add``), then ``summary()``."""

    __slots__ = ("_kept", "count", "max", "stalls")

    def __init__(self) -> None:
        self._kept = array("d")
        self.count = 0
        self.max = 0.0
        self.stalls = 0

    def add(self, gap: float) -> None:
        self.count += 1
        if gap > self.max:
            self.max = gap
        if gap >= STALL_SECONDS:
            self.stalls += 1
        kept = self._kept
        if len(kept) < KEPT:
            kept.append(gap)
        else:  # reservoir sampling: each gap so far is kept with the same chance
            slot = random.randrange(self.count)
            if slot < KEPT:
                kept[slot] = gap

    def summary(self) -> GapSummary | None:
        """None before the second delivery of content."""
        if not self.count:
            return None
        ordered = sorted(self._kept)
        last = len(ordered) - 1
        return GapSummary(count=self.count, p50=ordered[last // 2],
                          p99=ordered[min(last, round(last * 0.99))], max=self.max,
                          stalls=self.stalls)
