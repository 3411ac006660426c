"""How evenly a stream arrived: the gaps between its deliveries of content.

Time to first token says how a stream started; a stream can also stall in
the middle. ``Gaps`` keeps, per stream, the time between consecutive
deliveries that carried content (text, reasoning, tool calls: one delivery is
one read of the socket, so chunks that arrived together make no gap), in a
few hundred bytes however long the stream: ``max`` and ``stalls`` are exact;
the percentiles come from a histogram with buckets 15 % wide (from 0.1 ms to
over a minute), so they are exact to within 15 %.
Sans I/O: the caller measures the gaps.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right

from pydantic import BaseModel, ConfigDict

__all__ = ["BOUNDS", "STALL_SECONDS", "GapSummary", "Gaps"]

#: A gap at least this long is a stall.
STALL_SECONDS = 1.0
#: The histogram's upper bucket bounds, in seconds: 0.1 ms, then 15 % more each.
BOUNDS: tuple[float, ...] = tuple(0.0001 * 1.15 ** k for k in range(100))


class GapSummary(BaseModel):
    """The gaps between a stream's deliveries of content, in seconds.

    Attributes:
        count: how many gaps (deliveries of content after the first).
        p50, p99: the median and 99th percentile gap (to within 15 %).
        max: the longest gap.
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

    __slots__ = ("_counts", "count", "max", "stalls")

    def __init__(self) -> None:
        self._counts = array("I", bytes(4 * (len(BOUNDS) + 1)))
        self.count = 0
        self.max = 0.0
        self.stalls = 0

    def add(self, gap: float) -> None:
        self.count += 1
        if gap > self.max:
            self.max = gap
        if gap >= STALL_SECONDS:
            self.stalls += 1
        self._counts[bisect_right(BOUNDS, gap)] += 1

    def summary(self) -> GapSummary | None:
        """None before the second delivery of content."""
        if not self.count:
            return None
        return GapSummary(count=self.count, p50=self._percentile(0.5),
                          p99=self._percentile(0.99), max=self.max, stalls=self.stalls)

    def _percentile(self, q: float) -> float:
        """The gap below which a fraction ``q`` of them fall: its bucket's
        middle (geometric), never more than ``max``."""
        rank = q * self.count
        seen = 0
        for k, n in enumerate(self._counts):
            seen += n
            if seen >= rank and n:
                upper = BOUNDS[k] if k < len(BOUNDS) else self.max
                lower = BOUNDS[k - 1] if k else 0.0
                return min(self.max, (lower * upper) ** 0.5 if lower else upper / 2)
        return self.max
