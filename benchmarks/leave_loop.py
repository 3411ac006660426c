"""How fast a stream stops when its consumer leaves: ``break`` out of a kept
``stream()``, and ``task.cancel()`` of a task iterating ``astream()``.

    python -m benchmarks.leave_loop

Loopback server, a 400-token answer at 200 tokens/s; for each reader mode,
the time from ``break`` (or ``task.cancel()``) to the stream being over, its
worker thread gone and its connection closed at the server.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import streamactors as sa
from streamactors.testing import LoopbackServer, Script

SCRIPT = Script(tokens=[f" w{i}" for i in range(400)], tokens_per_second=200)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def run(reader: str, n: int = 60) -> None:
    lat_done: list[float] = []
    lat_thread: list[float] = []
    lat_conn: list[float] = []
    with LoopbackServer(SCRIPT) as server, sa.Client(
            base_url=server.url("openai"), api_key="k", reader=reader, trust_env=False) as client:
        for _ in range(n):
            s = client.stream("openai/m", [{"role": "user", "content": "hi"}])
            for c in s:
                if c.text:
                    break
            t0 = time.perf_counter()
            s.handle._done.wait(5)
            lat_done.append(time.perf_counter() - t0)
            thread = s.handle._thread
            assert thread is not None
            thread.join(5)
            lat_thread.append(time.perf_counter() - t0)
            while server.connections_open:
                time.sleep(0.0002)
            lat_conn.append(time.perf_counter() - t0)
            assert isinstance(s.handle.error, sa.StreamCancelled)
    for name, xs in (("handle done", lat_done), ("thread gone", lat_thread),
                     ("conn closed", lat_conn)):
        print(f"{reader:8} break -> {name:12} median {statistics.median(xs) * 1000:6.2f} ms"
              f"  p95 {pct(xs, 0.95) * 1000:6.2f} ms  max {max(xs) * 1000:6.2f} ms")


def run_async(reader: str, n: int = 40) -> None:
    lat: list[float] = []

    async def one(client: sa.Client) -> None:
        it: Any = client.astream("openai/m", [{"role": "user", "content": "hi"}])
        started = asyncio.Event()

        async def consume() -> None:
            async for _ in it:
                started.set()

        task = asyncio.create_task(consume())
        await started.wait()
        task.cancel()
        t0 = time.perf_counter()
        await asyncio.to_thread(it.handle._done.wait, 5)
        lat.append(time.perf_counter() - t0)
    async def main() -> None:
        with LoopbackServer(SCRIPT) as server, sa.Client(
                base_url=server.url("openai"), api_key="k", reader=reader,
                trust_env=False) as client:
            for _ in range(n):
                await one(client)

    asyncio.run(main())
    print(f"{reader:8} task.cancel -> handle done  median {statistics.median(lat) * 1000:6.2f} ms"
          f"  p95 {pct(lat, 0.95) * 1000:6.2f} ms  max {max(lat) * 1000:6.2f} ms")


if __name__ == "__main__":
    for reader in ("reactor", "thread"):
        run(reader)
        run_async(reader)
