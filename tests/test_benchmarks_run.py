"""The benchmarks reach into library internals (codecs, actors, transport):
keep them importable and runnable, cheaply, so a refactor cannot silently
break the CI smoke run (which never fails on timing)."""

from __future__ import annotations

import pytest


@pytest.mark.timeout(60)
def test_codec_measurement_runs() -> None:
    from benchmarks._codecs import measure

    out = measure(200)
    assert any("OpenAIChatDecoder" in k for k in out)
    assert all(isinstance(v, float) and v > 0 for v in out.values() if isinstance(v, float))


def test_library_targets_build() -> None:
    from benchmarks._library import TARGETS, LingerActor

    assert {"handler", "handler-thread", "queue", "callable", "stream()", "astream()"} <= set(TARGETS)
    actor = LingerActor(None)
    assert actor.linger == 0.001


@pytest.mark.timeout(60)
def test_profile_stage_costs_run() -> None:
    from benchmarks._profile import stage_costs

    out = stage_costs(300)
    assert out and all(v > 0 for v in out.values())


@pytest.mark.timeout(60)
def test_mux_prototypes_run() -> None:
    # The S2 prototypes reach into the de-chunker, the SSE decoder, the codec
    # and the actor sink directly; a short real run keeps them working.
    from benchmarks._library import BenchActor
    from benchmarks._measure import Histogram
    from benchmarks._mux import run_mux
    from benchmarks._server import ServerProcess, model_spec

    with ServerProcess() as server:
        for kind in ("floor-mux", "library-mux"):
            hist = Histogram()
            actor = BenchActor(hist).start() if kind == "library-mux" else None
            try:
                out = run_mux(kind, server.url, model_spec(5, rate=200), 3, hist, actor, 20)
            finally:
                if actor is not None:
                    actor.stop()
                    actor.join()
            assert out["delivered"] == 15 and not out["timed_out"] and not out["errors"], (kind, out)
