"""The scenarios, each run in a fresh client process by ``run.py``.

``python -m benchmarks._scenarios '<json>'`` runs one scenario for one target
and prints one line ``RESULT <json>``. A fresh process per measurement keeps
imports, threads and memory of one target out of another's figures; the
server is yet another process, so its CPU is never counted here.

S1 one unpaced stream: CPU per chunk. S2 many paced streams: delivery
latency, CPU, memory per stream. S3 time to first chunk on pooled
connections. S4 cancel of a stalled read. S5 slow consumer, bounded memory.
"""

from __future__ import annotations

import gc
import json
import resource
import statistics
import sys
import threading
import time
from typing import Any

from ._measure import Histogram, RSSSampler, raise_fd_limit, rss_bytes
from ._peers import MESSAGES, PEERS, Peer, missing, requirement
from ._server import model_spec, server_stats

__all__ = ["main", "run_scenario"]

#: Prototypes reading every stream on one selector thread (see _mux.py).
MUX = ("floor-mux", "library-mux", "library-mux-linger")
#: The cyclic collector's thresholds an application with hundreds of live
#: streams can set (docs/handlers.md): full collections stop every thread.
GC_TUNED = (50_000, 20, 10)
#: Thread stack size for the many-stream scenario (see docs/benchmarks.md): the
#: smallest with which ``json.loads`` of JSON nested as deep as the recursion
#: limit allows still does not overflow the C stack (256 KiB crashes).
STACK_KB = 512


def _target(name: str) -> Any:
    """A peer or library target instance by name, or a skip message."""
    from ._library import TARGETS

    cls: Any = PEERS.get(name) or TARGETS.get(name)
    if cls is None:
        raise SystemExit(f"unknown target {name!r}")
    why = missing(cls.requires)
    return why if why else cls()


def _vm_peak() -> int:
    """Peak virtual memory of this process (Linux), bytes; 0 if unknown."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _switches() -> int:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_nvcsw + ru.ru_nivcsw


# -- S1 ------------------------------------------------------------------------


def s1(target: Any, url: str, n: int, reps: int) -> dict[str, Any]:
    """CPU per chunk of one unpaced stream of ``n`` chunks, ``reps`` times."""
    target.open(url)
    target.stream(model_spec(min(n, 2000)))  # warm up: imports, connection, caches
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(reps):
        gc.collect()
        c0 = time.process_time()
        w0 = time.perf_counter()
        count, chars, _ = target.stream(model_spec(n))
        wall.append(time.perf_counter() - w0)
        cpu.append((time.process_time() - c0) / n * 1e6)
        if count != n or chars != _expected_chars(n):
            raise AssertionError(f"got {count} chunks / {chars} chars, expected {n}")
    target.close()
    return {"cpu_us": cpu, "wall_s": wall, "n": n}


def _expected_chars(n: int) -> int:
    return sum(len(f" tok{i % 97}") for i in range(n))


# -- S2 ------------------------------------------------------------------------


def _s2_prepare(target: Any, url: str, streams: int, hist: Histogram,
                linger: bool) -> tuple[Any, Any]:
    """Everything that exists once per process, made before the baseline:
    (the actor or None, the library's client or None)."""
    from ._library import Target

    actor = client = None
    if target in MUX:
        from ._library import BenchActor, LingerActor

        if target.startswith("library-mux"):
            actor = (LingerActor if target.endswith("linger") else BenchActor)(hist).start()
            import streamactors.transport._requests  # noqa: F401  (imports before the baseline)
    elif isinstance(target, Target):
        from ._library import BenchActor, LingerActor, make_client

        if target.name.startswith("handler"):
            actor = (LingerActor if linger else BenchActor)(hist).start()
        client = make_client(url, pool=streams, reader=getattr(target, "reader", None))
        # imports, first connection:
        client.chat("openai/" + model_spec(10), MESSAGES, stream_to=lambda m: None).wait()
    else:
        target.open(url)
        target.stream(model_spec(10))
    return actor, client


def s2(target: Any, url: str, streams: int, rate: float, seconds: float,
       grace: float, linger: bool = False, stack_kb: int = STACK_KB,
       gc_tuned: bool = False) -> dict[str, Any]:
    """``streams`` concurrent streams of ``rate`` chunks/s for ``seconds``
    (``gc_tuned``: with the collector setting docs/handlers.md recommends for
    hundreds of streams, ``GC_TUNED``)."""
    from ._library import Target

    limits = raise_fd_limit(streams * 2 + 256)
    threading.stack_size(stack_kb * 1024)  # 0: the platform's default (8 MiB here)
    per_stream = int(rate * seconds)
    model = model_spec(per_stream, rate=rate)
    hist = Histogram()
    actor, client = _s2_prepare(target, url, streams, hist, linger)
    gc.collect()
    if gc_tuned:
        gc.set_threshold(*GC_TUNED)
    sampler = RSSSampler()
    sw0 = _switches()
    c0 = time.process_time()
    w0 = time.monotonic()
    if target in MUX:
        from ._mux import run_mux

        out = run_mux(target, url, model, streams, hist, actor, seconds + grace)
        if actor is not None:
            out["delivered"] = actor.count
            actor.stop()
            actor.join()
    elif isinstance(target, Target):
        out = _s2_library(client, actor, hist, model, streams, seconds + grace)
    elif target.name == "openai-async":
        out = _s2_async(target, url, model, streams, hist, seconds + grace)
    else:
        out = _s2_threads(target, url, model, streams, hist, seconds + grace)
    cpu = time.process_time() - c0
    wall = time.monotonic() - w0
    switches = _switches() - sw0
    grew = sampler.stop()
    summary = hist.summary()
    expected = streams * per_stream
    delivered = out.pop("delivered", None)
    if delivered is None:
        delivered = summary["count"]
    return {
        **summary, **out,
        "streams": streams, "expected": expected, "delivered": delivered,
        "cpu_s": round(cpu, 3), "wall_s": round(wall, 2),
        "cpu_us_per_chunk": round(cpu / max(1, delivered) * 1e6, 2),
        "switches_per_chunk": round(switches / max(1, delivered), 2),
        "rss_kb_per_stream": round(grew / streams / 1024, 1),
        "rss_start_mb": round(sampler.baseline / 2**20, 1),
        "fd_limit": limits[0], "stack_kb": stack_kb or "default",
        "vm_peak_mb": round(_vm_peak() / 2**20),
        "switch_interval_ms": sys.getswitchinterval() * 1000,
    }


def _s2_library(client: Any, actor: Any, hist: Histogram, model: str, streams: int,
                budget: float) -> dict[str, Any]:
    """Streams into one ``StreamingClient`` (``actor``), or, when ``actor`` is
    None, into a callable run on each worker thread."""
    import itertools

    import streamactors

    target: Any = actor
    counter = itertools.count()
    if actor is None:
        add = hist.add
        tick = counter.__next__  # atomic under the GIL
        data_type = streamactors.Data

        def target(msg: Any) -> None:
            if type(msg) is data_type:
                tick()
                add(msg.chunk.raw["t"])

    t0 = time.monotonic()
    handles = [client.chat("openai/" + model, MESSAGES, stream_to=target) for _ in range(streams)]
    ramp = time.monotonic() - t0
    finished, errors = _wait_all(handles, t0 + budget)
    started = _all_started(handles, ramp)
    if actor is not None:
        actor.wait_streams(streams, 30)
        actor.stop()
        actor.join()
    client.close()
    delivered = actor.count if actor is not None else next(counter)
    return {"ramp_s": round(ramp, 2), "delivered": delivered, "timed_out": not finished,
            "started_s": round(started, 2) if started is not None else None,
            "errors": len(errors), "first_error": repr(errors[0])[:200] if errors else None}


def _wait_all(handles: list[Any], deadline: float) -> tuple[bool, list[Exception]]:
    """Wait for every stream until ``deadline``, then cancel the rest;
    whether all ended in time, and the errors other than cancels."""
    import streamactors

    finished = True
    for h in handles:
        try:
            h.wait(max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            finished = False
            break
        except streamactors.StreamError:
            pass
    if not finished:
        for h in handles:
            h.cancel()
    errors = []
    for h in handles:
        try:
            h.wait(30)
        except streamactors.StreamCancelled:
            pass
        except Exception as exc:
            errors.append(exc)
    return finished, errors


def _all_started(handles: list[Any], ramp: float) -> float | None:
    """When every stream had its first token: the latest first token, counted
    from the first chat() call (each stream's own time to first token is
    counted from its chat() call, which came at most ``ramp`` after the
    first, so this is an upper bound)."""
    results = (h.result or (h.error.partial if h.error else None) for h in handles)
    ttfts = [r.time_to_first_token for r in results
             if r is not None and r.time_to_first_token is not None]
    return ramp + max(ttfts) if ttfts else None


def _s2_threads(peer: Peer, url: str, model: str, streams: int, hist: Histogram,
                budget: float) -> dict[str, Any]:
    counts: list[int | None] = [None] * streams
    errors: list[BaseException] = []

    def one(i: int) -> None:
        p = type(peer)()
        try:
            p.open(url)
            counts[i] = p.stream(model, hist)[0]
        except BaseException as exc:
            errors.append(exc)
        finally:
            p.close()

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(streams)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    ramp = time.monotonic() - t0
    deadline = t0 + budget
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    timed_out = any(t.is_alive() for t in threads)
    delivered = None if timed_out or errors else sum(c or 0 for c in counts)
    return {"ramp_s": round(ramp, 2), "delivered": delivered, "timed_out": timed_out,
            "errors": len(errors), "first_error": repr(errors[0])[:200] if errors else None}


def _s2_async(peer: Any, url: str, model: str, streams: int, hist: Histogram,
              budget: float) -> dict[str, Any]:
    import asyncio

    errors: list[BaseException] = []

    async def main() -> bool:
        client = peer.client()

        async def one() -> None:
            try:
                await peer.astream(client, model, hist)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                errors.append(exc)

        tasks = [asyncio.ensure_future(one()) for _ in range(streams)]
        _, pending = await asyncio.wait(tasks, timeout=budget)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await client.close()
        return bool(pending)

    timed_out = asyncio.run(main())
    return {"ramp_s": 0.0, "timed_out": timed_out, "errors": len(errors),
            "first_error": repr(errors[0])[:200] if errors else None}


# -- S3 ------------------------------------------------------------------------


def s3(target: Any, url: str, reps: int) -> dict[str, Any]:
    """Time from starting a stream to its first chunk in user code, on a
    client reused for ``reps`` sequential streams (pooled connections)."""
    target.open(url)
    model = model_spec(5)
    target.stream(model)
    port = int(url.split(":")[2].split("/")[0])
    before = server_stats(port)
    ttft: list[float] = []
    for _ in range(reps):
        t0 = time.monotonic()
        count, _, first = target.stream(model)
        ttft.append((first - t0) * 1000)
        assert count == 5
    after = server_stats(port)
    target.close()
    ttft.sort()
    return {
        "ttft_ms_median": round(statistics.median(ttft), 3),
        "ttft_ms_p90": round(ttft[int(len(ttft) * 0.9)], 3),
        # minus one: the connection that asked for the first figures
        "connections_per_stream": round((after["accepted"] - before["accepted"] - 1) / reps, 3),
    }


# -- S4 ------------------------------------------------------------------------


def s4(name: str, url: str, reps: int) -> dict[str, Any]:
    """Cancel a stream stalled in a read: time until the reader is released."""
    from . import _cancel

    times = _cancel.measure(name, url, reps)
    times.sort()
    return {"release_ms_median": round(statistics.median(times), 3),
            "release_ms_max": round(times[-1], 3), "reps": reps}


# -- S5 ------------------------------------------------------------------------


def s5(name: str, url: str, n: int, bound: int, nap_every: int) -> dict[str, Any]:
    """A slow consumer of an ``n``-chunk stream with a bounded buffer."""
    from . import _slow

    _slow.prepare(url)  # imports and a first stream, before the baseline
    gc.collect()
    start = rss_bytes()
    sampler = RSSSampler(0.1)
    w0 = time.monotonic()
    count = _slow.consume(name, url, n, bound, nap_every)
    wall = time.monotonic() - w0
    grew = sampler.stop()
    peak_kernel = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"delivered": count, "expected": n, "wall_s": round(wall, 1),
            "rss_start_mb": round(start / 2**20, 1),
            "rss_growth_mb": round(max(grew, peak_kernel - start) / 2**20, 1)}


# -- entry point ---------------------------------------------------------------


def run_scenario(spec: dict[str, Any]) -> dict[str, Any]:
    kind = spec["scenario"]
    name = spec["target"]
    if kind in ("s4", "s5"):
        why = requirement(name)
        if why:
            return {"skipped": why}
        if kind == "s4":
            return s4(name, spec["url"], spec["reps"])
        return s5(name, spec["url"], spec["n"], spec["bound"], spec["nap_every"])
    if name in MUX:
        if kind != "s2":
            raise SystemExit(f"{name} runs in S2 only")
        return s2(name, spec["url"], spec["streams"], spec["rate"], spec["seconds"],
                  spec["grace"], stack_kb=spec.get("stack_kb", STACK_KB))
    linger = name.endswith("-linger")
    gc_tuned = name.endswith("-gc")
    target = _target(name.removesuffix("-linger").removesuffix("-gc"))
    if isinstance(target, str):
        return {"skipped": target}
    if kind == "s1":
        return s1(target, spec["url"], spec["n"], spec["reps"])
    if kind == "s2":
        return s2(target, spec["url"], spec["streams"], spec["rate"], spec["seconds"],
                  spec["grace"], linger, spec.get("stack_kb", STACK_KB), gc_tuned)
    if kind == "s3":
        return s3(target, spec["url"], spec["reps"])
    raise SystemExit(f"unknown scenario {kind!r}")


def main() -> None:
    spec = json.loads(sys.argv[1])
    if spec.get("switch_ms"):
        sys.setswitchinterval(spec["switch_ms"] / 1000)
    try:
        result = run_scenario(spec)
    except Exception as exc:  # reported in the table, never a crash of the run
        result = {"failed": f"{type(exc).__name__}: {exc}"[:300]}
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
