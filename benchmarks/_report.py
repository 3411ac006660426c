"""Print the results of ``run.py`` as plain-text tables, with ratios to the
floor and to openai-python, and the issue's targets checked (never failing)."""

from __future__ import annotations

from typing import Any

__all__ = ["print_tables"]

LIBRARY = ("handler", "handler-linger", "handler-gc", "handler-thread", "queue", "callable",
           "stream()", "astream()")


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(headers: list[str], rows: list[list[Any]]) -> None:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                    for i, (h, w) in enumerate(zip(headers, widths, strict=True))))
    for r in cells:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths, strict=True))))


def _notes(section: dict[str, Any]) -> None:
    for name, res in section.items():
        if isinstance(res, dict) and ("skipped" in res or "failed" in res):
            kind = "skipped" if "skipped" in res else "FAILED"
            print(f"  {name}: {kind}: {res.get('skipped') or res.get('failed')}")


def _ms(value: float | None) -> str | float | None:
    """A latency, marking the histogram's last bucket as a lower bound."""
    if value is not None and value >= 29999:
        return ">=30000"
    return value


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "MISS")


def print_s1(s1: dict[str, Any]) -> None:
    print("\nS1  one unpaced stream: client CPU per chunk (median of runs; server in its "
          "own process)")
    floor = s1.get("floor", {}).get("cpu_us")
    sdk = s1.get("openai", {}).get("cpu_us")
    rows = []
    for name, res in s1.items():
        if "cpu_us" not in res:
            continue
        cpu = res["cpu_us"]
        goal = None
        if name in LIBRARY and floor:
            goal = cpu <= 2 * floor
        rows.append([name, res["n"], cpu, cpu / floor if floor else None,
                     sdk / cpu if sdk else None, res["wall_s"], _verdict(goal)])
    _table(["target", "chunks", "CPU us/chunk", "x floor", "openai / this", "wall s",
            "<= 2x floor"], rows)
    handler = s1.get("handler", {}).get("cpu_us")
    if handler and floor and sdk:  # the core v2 issue's targets for the handler
        print(f"  handler: {handler / floor:.2f}x floor (<= 1.2: "
              f"{_verdict(handler <= 1.2 * floor)}), {sdk / handler:.1f}x cheaper than openai "
              f"(>= 20: {_verdict(sdk >= 20 * handler)})")
    _notes(s1)


def print_s2(s2: dict[str, Any]) -> None:
    for streams, section in s2.items():
        n = int(streams)
        limit = 5.0 if n <= 200 else 100.0  # the core v2 issue's targets
        floor_cpu = section.get("floor", {}).get("cpu_us_per_chunk")
        first: dict[str, Any] = next((r for r in section.values() if "streams" in r), {})
        print(f"\nS2  {n} paced streams at 50 chunks/s ({first.get('expected', '?')} chunks; "
              f"latency = handler call - server send; stack {first.get('stack_kb', '?')} KiB, "
              f"switch interval {first.get('switch_interval_ms', '?')} ms)")
        rows = []
        for name, r in section.items():
            if "streams" not in r:
                continue
            all_in = r["delivered"] == r["expected"] and not r.get("timed_out")
            rows.append([
                name, f"{r['delivered']}/{r['expected']}", _ms(r.get("p50_ms")),
                _ms(r.get("p99_ms")), _ms(r.get("max_ms")), r["cpu_us_per_chunk"],
                r["cpu_us_per_chunk"] / floor_cpu if floor_cpu else None, r["rss_kb_per_stream"],
                r["switches_per_chunk"], r.get("ramp_s"), r.get("started_s"),
                _verdict(all_in and (r.get("p99_ms") or 1e9) <= limit
                         and r["rss_kb_per_stream"] <= 100
                         and (n < 1000 or (r.get("started_s") or 1e9) <= 1.0)
                         and (n > 200 or not floor_cpu
                              or r["cpu_us_per_chunk"] <= 0.6 * floor_cpu))
                if name in LIBRARY else "-",
            ])
        verdict = f"all in, p99<={limit:g}ms, RSS<=100KB" + (
            ", started<=1s" if n >= 1000 else ", CPU<=0.6x floor" if n <= 200 else "")
        _table(["target", "delivered", "p50 ms", "p99 ms", "max ms", "CPU us/chunk", "x floor",
                "RSS KB/stream", "switches/chunk", "ramp s", "started s", verdict], rows)
        for name, r in section.items():
            if r.get("p99_all") and len(r["p99_all"]) > 1:
                print(f"  {name}: p99 per round {r['p99_all']}, delivered {r['delivered_all']}")
            if r.get("first_error"):
                print(f"  {name}: {r['errors']} errors, first: {r['first_error']}")
        _notes(section)


def print_s3(s3: dict[str, Any]) -> None:
    print("\nS3  time to first chunk, sequential streams on one client (pooled connections)")
    floor = s3.get("floor", {}).get("ttft_ms_median")
    rows = []
    for name, r in s3.items():
        if "ttft_ms_median" not in r:
            continue
        over = r["ttft_ms_median"] - floor if floor is not None else None
        rows.append([name, r["ttft_ms_median"], r["ttft_ms_p90"], over,
                     r["connections_per_stream"],
                     _verdict(over < 1.0 and r["connections_per_stream"] < 0.05)
                     if name in LIBRARY and over is not None else "-"])
    _table(["target", "TTFT median ms", "p90 ms", "over floor ms", "new conns/stream",
            "< 1 ms, pooled"], rows)
    _notes(s3)


def print_s4(s4: dict[str, Any]) -> None:
    print("\nS4  cancel a stream stalled in a socket read: time until the reader is released")
    rows = []
    for name, r in s4.items():
        if "release_ms_median" not in r:
            continue
        rows.append([name, r["reps"], r["release_ms_median"], r["release_ms_max"],
                     _verdict(r["release_ms_max"] <= 5.0) if name in LIBRARY else "-"])
    _table(["target", "reps", "median ms", "max ms", "<= 5 ms"], rows)
    _notes(s4)


def print_s5(s5: dict[str, Any]) -> None:
    print("\nS5  slow consumer (1 ms nap every 64 chunks) behind a bounded buffer")
    rows = []
    for name, r in s5.items():
        if "delivered" not in r:
            continue
        rows.append([name, f"{r['delivered']}/{r['expected']}", r["wall_s"], r["rss_start_mb"],
                     r["rss_growth_mb"], _verdict(r["rss_growth_mb"] <= 20)])
    _table(["target", "delivered", "wall s", "RSS start MB", "peak growth MB", "<= 20 MB"],
           rows)
    _notes(s5)


def print_codecs(codecs: dict[str, Any]) -> None:
    print("\nCodecs  decoding one chunk's JSON (best of rounds, us per chunk)")
    rows = [[k, v] for k, v in codecs.items() if not k.endswith("_note")]
    _table(["codec", "us/chunk"], rows)
    if codecs.get("openai_note"):
        print(f"  openai: {codecs['openai_note']}")


def print_tables(results: dict[str, Any]) -> None:
    m = results["machine"]
    print(f"\nstreamactors benchmarks ({results['mode']} run, {results.get('elapsed_s')} s): "
          f"Python {m['python']} on {m.get('cpu', '?')}, {m['cpus']} CPUs, {m['platform']}")
    print("load average before/after: "
          f"{' '.join(f'{x:.2f}' for x in m['load_before'])} / "
          f"{' '.join(f'{x:.2f}' for x in m['load_after'])}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v))
    for key, printer in (("s1", print_s1), ("s2", print_s2), ("s3", print_s3),
                         ("s4", print_s4), ("s5", print_s5), ("codecs", print_codecs)):
        if key in results:
            printer(results[key])
    server = results.get("server")
    if server:
        st = server["stats"]
        print(f"\nserver: {st['accepted']} connections, {st['requests']} requests, "
              f"{st['paced_sends']} paced sends ({st['late_5ms']} more than 5 ms late, "
              f"max {st['max_late_ms']:.1f} ms), CPU {server['cpu_s']:.1f} s")
