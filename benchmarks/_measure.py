"""What the benchmark clients measure: CPU, resident memory and delivery latency.

Everything here runs in the client process. CPU is ``time.process_time()``
(all threads of the process, user + system); the server is another process, so
none of its work is counted. Latency is ``time.monotonic()`` when a chunk
reaches user code minus the send time the server wrote into it (the same
system-wide clock on Linux).
"""

from __future__ import annotations

import os
import resource
import threading
import time
from typing import Any

__all__ = [
    "BUCKET_S",
    "Histogram",
    "RSSSampler",
    "raise_fd_limit",
    "rss_bytes",
]

#: Resolution of the latency histogram: 0.1 ms.
BUCKET_S = 0.0001
_BUCKETS = 300_000  # 30 s of 0.1 ms buckets; later ones land in the last

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Resident set size of this process now (Linux /proc; else the peak)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def raise_fd_limit(wanted: int) -> tuple[int, int]:
    """Raise the soft limit of open files towards ``wanted`` (capped by the
    hard limit); return the (soft, hard) limits in force afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


class Histogram:
    """Delivery latencies in 0.1 ms buckets, preallocated (no memory growth
    while measuring). ``add`` may race between threads; a lost increment
    changes a percentile by nothing measurable, and exact chunk counts are
    kept by the callers."""

    def __init__(self) -> None:
        self.counts = [0] * _BUCKETS

    def add(self, t_sent: float) -> None:
        b = int((time.monotonic() - t_sent) * 10000.0)
        counts = self.counts
        if b < 0:
            b = 0
        elif b >= _BUCKETS:
            b = _BUCKETS - 1
        counts[b] += 1

    def merge(self, other: Histogram) -> None:
        mine = self.counts
        for i, c in enumerate(other.counts):
            if c:
                mine[i] += c

    def summary(self) -> dict[str, Any]:
        """Count and latency percentiles in milliseconds (upper bucket edges)."""
        counts = self.counts
        total = sum(counts)
        out: dict[str, Any] = {"count": total}
        if not total:
            return out
        marks = [("p50_ms", 0.50), ("p99_ms", 0.99), ("p999_ms", 0.999)]
        seen = 0
        k = 0
        for i, c in enumerate(counts):
            if not c:
                continue
            seen += c
            while k < len(marks) and seen >= marks[k][1] * total:
                out[marks[k][0]] = round((i + 1) * BUCKET_S * 1000, 2)
                k += 1
            out["max_ms"] = round((i + 1) * BUCKET_S * 1000, 2)
        return out


class RSSSampler:
    """Samples this process's RSS every ``period`` seconds on a daemon thread
    and keeps the peak (the kernel's ``ru_maxrss`` would include peaks from
    before the measurement started)."""

    def __init__(self, period: float = 0.05) -> None:
        self.baseline = rss_bytes()
        self.peak = self.baseline
        self._period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            now = rss_bytes()
            if now > self.peak:
                self.peak = now

    def stop(self) -> int:
        """Stop sampling; return the peak minus the baseline, in bytes."""
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())
        return self.peak - self.baseline
