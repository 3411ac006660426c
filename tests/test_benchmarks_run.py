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

    assert {"handler", "handler-reactor", "queue", "callable", "stream()", "astream()"} <= set(TARGETS)
    actor = LingerActor(None)
    assert actor.linger == 0.001
