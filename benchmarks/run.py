"""Run every benchmark scenario against streamactors and its peers; print tables.

    python -m benchmarks.run            # the full run (about 10-15 minutes)
    python -m benchmarks.run --smoke    # about a minute; what CI runs
    python -m benchmarks.run --only s1,s3 --json results.json
    python -m benchmarks.run --profile  # where the time of one chunk goes

The server runs in its own process and every measurement in a fresh client
process, one after the other, in interleaved rounds (so a noisy moment hits
every target alike); figures are medians over the rounds. Peers that are not
installed are skipped with a message (``pip install -e '.[bench]'``). Nothing
here fails on timing: it prints figures and exits 0 unless it crashed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(ROOT))

from benchmarks._report import print_tables  # noqa: E402
from benchmarks._server import ServerProcess  # noqa: E402

S1_PEERS = ["floor", "requests", "sseclient-py", "httpx-sse", "openai", "openai-async",
            "openai-helper"]
S1_LIBRARY = ["handler", "handler-thread", "queue", "callable", "stream()", "astream()"]

FULL: dict[str, Any] = {
    "s1": {"n": 100_000, "n_slow": 20_000, "reps": 2, "rounds": 3},
    "s2": {"rate": 50, "seconds": 10, "rounds": 2, "targets": {
        200: ["floor", "requests", "handler", "handler-linger", "handler-gc", "handler-thread",
              "openai-async", "floor-mux", "library-mux-linger"],
        1000: ["floor", "handler", "handler-linger", "handler-gc", "handler-thread",
               "openai-async", "floor-mux", "library-mux-linger"]},
        "grace": {200: 10, 1000: 8}},
    "s3": {"reps": 200, "targets": ["floor", "requests", "httpx-sse", "openai", "handler",
                                    "callable", "stream()"]},
    "s4": {"reps": 20, "targets": {"floor": 20, "handler": 20, "requests": 3}},
    "s5": {"n": 1_000_000, "bound": 1000, "nap_every": 64,
           "targets": ["handler", "queue", "stream()", "astream()"]},
    "codecs": {"n": 100_000},
}
SMOKE: dict[str, Any] = {
    "s1": {"n": 20_000, "n_slow": 2_000, "reps": 1, "rounds": 1},
    "s2": {"rate": 50, "seconds": 2, "rounds": 1,
           "targets": {100: ["floor", "handler", "handler-thread"]},
           "grace": {100: 5}},
    "s3": {"reps": 20, "targets": ["floor", "handler"]},
    "s4": {"reps": 5, "targets": {"floor": 5, "handler": 5}},
    "s5": {"n": 100_000, "bound": 1000, "nap_every": 64, "targets": ["handler"]},
    "codecs": {"n": 20_000},
}


def child(spec: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
    """Run one measurement in a fresh process; its ``RESULT`` line as a dict."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks._scenarios", json.dumps(spec)],
            capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"failed": f"no result within {timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[7:])
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"failed": f"exit {proc.returncode}: {' | '.join(tail)}"[:300]}


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_s1(url: str, cfg: dict[str, Any]) -> dict[str, Any]:
    samples: dict[str, list[float]] = {}
    walls: dict[str, list[float]] = {}
    other: dict[str, dict[str, Any]] = {}
    for r in range(cfg["rounds"]):
        for name in S1_PEERS + S1_LIBRARY:
            if name in other:
                continue
            n = cfg["n_slow"] if name.startswith("openai") else cfg["n"]
            _say(f"S1 round {r + 1}/{cfg['rounds']}: {name} ({n} chunks)")
            res = child({"scenario": "s1", "target": name, "url": url, "n": n,
                         "reps": cfg["reps"]})
            if "cpu_us" not in res:
                other[name] = res
                continue
            samples.setdefault(name, []).extend(res["cpu_us"])
            walls.setdefault(name, []).extend(res["wall_s"])
            other.setdefault(name + "#n", {"n": n})
    out: dict[str, Any] = {}
    for name in S1_PEERS + S1_LIBRARY:
        if name in other:
            out[name] = other[name]
        elif name in samples:
            out[name] = {"cpu_us": round(statistics.median(samples[name]), 2),
                         "cpu_us_all": [round(x, 2) for x in samples[name]],
                         "wall_s": round(statistics.median(walls[name]), 2),
                         "n": other[name + "#n"]["n"]}
    return out


def run_s2(url: str, cfg: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for streams, targets in cfg["targets"].items():
        grace = cfg["grace"][streams]
        runs: dict[str, list[dict[str, Any]]] = {}
        for r in range(cfg["rounds"]):
            for name in targets:
                if runs.get(name) and "skipped" in runs[name][0]:
                    continue
                _say(f"S2 {streams} streams round {r + 1}/{cfg['rounds']}: {name}")
                spec = {"scenario": "s2", "target": name, "url": url, "streams": streams,
                        "rate": cfg["rate"], "seconds": cfg["seconds"], "grace": grace}
                runs.setdefault(name, []).append(child(spec, timeout=cfg["seconds"] + grace + 120))
        out[str(streams)] = {name: _median_runs(rs) for name, rs in runs.items()}
    return out


def _median_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-key medians of numeric fields (the first run's value otherwise)."""
    good = [r for r in runs if "skipped" not in r and "failed" not in r]
    if not good:
        return runs[0]
    merged: dict[str, Any] = dict(good[0])
    for key, value in good[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            vals = [r[key] for r in good if isinstance(r.get(key), (int, float))]
            mid = statistics.median(vals)
            merged[key] = int(mid) if all(type(v) is int for v in vals) else round(mid, 2)
    merged["delivered_all"] = [r.get("delivered") for r in good]
    merged["p99_all"] = [r.get("p99_ms") for r in good]
    merged["rounds"] = len(good)
    if len(good) < len(runs):
        merged["failed_rounds"] = [r.get("failed") for r in runs if "failed" in r]
    return merged


def run_s3(url: str, cfg: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name in cfg["targets"]:
        _say(f"S3 time to first chunk: {name}")
        out[name] = child({"scenario": "s3", "target": name, "url": url, "reps": cfg["reps"]})
    return out


def run_s4(url: str, cfg: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, reps in cfg["targets"].items():
        _say(f"S4 cancel a stalled read: {name}")
        out[name] = child({"scenario": "s4", "target": name, "url": url, "reps": reps})
    return out


def run_s5(url: str, cfg: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name in cfg["targets"]:
        _say(f"S5 slow consumer, {cfg['n']} chunks: {name}")
        out[name] = child({"scenario": "s5", "target": name, "url": url, "n": cfg["n"],
                           "bound": cfg["bound"], "nap_every": cfg["nap_every"]}, timeout=600)
    return out


def run_codecs(cfg: dict[str, Any]) -> dict[str, Any]:
    _say("codecs: decoding one chunk")
    from benchmarks._codecs import measure

    return measure(cfg["n"])


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "switch_interval_ms": sys.getswitchinterval() * 1000,
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for dist in ("streamactors", "requests", "urllib3", "pydantic", "pydantic-core", "janus",
                 "openai", "httpx", "httpx-sse", "sseclient-py"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    info["versions"] = versions
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="the one-minute version (CI)")
    parser.add_argument("--only", default="s1,s2,s3,s4,s5,codecs",
                        help="comma-separated scenarios (s1..s5, codecs)")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--profile", action="store_true",
                        help="only profile the hot path (stage costs and cProfile)")
    args = parser.parse_args(argv)
    if args.profile:
        from benchmarks._profile import main as profile_main

        profile_main(smoke=args.smoke)
        return 0
    cfg = SMOKE if args.smoke else FULL
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    results: dict[str, Any] = {"machine": machine(), "mode": "smoke" if args.smoke else "full",
                               "config": {k: cfg[k] for k in wanted if k in cfg}}
    results["machine"]["load_before"] = os.getloadavg()
    t0 = time.monotonic()
    with ServerProcess() as server:
        runners = {"s1": run_s1, "s2": run_s2, "s3": run_s3, "s4": run_s4, "s5": run_s5}
        for name in wanted:
            if name == "codecs":
                results["codecs"] = run_codecs(cfg["codecs"])
            elif name in runners:
                results[name] = runners[name](server.url, cfg[name])
            else:
                parser.error(f"unknown scenario {name!r}")
        results["server"] = {"stats": server.stats(), "cpu_s": server.cpu_seconds()}
    results["machine"]["load_after"] = os.getloadavg()
    results["elapsed_s"] = round(time.monotonic() - t0, 1)
    print_tables(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
