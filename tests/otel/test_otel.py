"""``streamactors.otel``: one span per stream, ended exactly once, however the
stream ends (the fault matrix, a real loopback server), with the GenAI
conventions' attributes; and the four metrics. The SDK's in-memory exporters
read what was reported."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import streamactors as sa
from streamactors import otel
from streamactors.testing import Fault, LoopbackServer, Script

pytestmark = pytest.mark.timeout(30)

MSGS = [{"role": "user", "content": "Hi"}]


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def of(self, handle: sa.StreamHandle) -> list[ReadableSpan]:
        """The spans of one stream, once it has ended."""
        assert handle._done.wait(10)
        deadline = time.monotonic() + 5
        while True:  # the span ends just before the terminal message is delivered
            found = [s for s in self.spans.get_finished_spans()
                     if (s.attributes or {}).get("streamactors.stream.id") == handle.id]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.01)

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return [p for rm in data.resource_metrics for sm in rm.scope_metrics
                for m in sm.metrics if m.name == name for p in m.data.data_points]


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    t = Telemetry()
    otel.instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
    try:
        yield t
    finally:
        otel.uninstrument()


@pytest.fixture
def client(loopback_server: LoopbackServer) -> Iterator[sa.Client]:
    loopback_server.script = Script(text="one two three four", tokens_per_second=200)
    with sa.Client(base_url=loopback_server.url("openai"), api_key="sk-otel",
                   max_retries=0) as c:
        yield c


def test_a_finished_stream_is_one_client_span_with_the_conventions_attributes(
        telemetry: Telemetry, client: sa.Client, loopback_server: LoopbackServer) -> None:
    handle = client.chat("openai/gpt-4o-mini", MSGS, temperature=0.2, max_tokens=50,
                         stop="END", top_p=0.9)
    result = handle.wait(10)
    (span,) = telemetry.of(handle)
    assert span.name == "chat gpt-4o-mini" and span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    a = dict(span.attributes or {})
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o-mini" and a["gen_ai.request.stream"] is True
    assert a["gen_ai.request.temperature"] == 0.2 and a["gen_ai.request.max_tokens"] == 50
    assert a["gen_ai.request.top_p"] == 0.9 and a["gen_ai.request.stop_sequences"] == ("END",)
    assert a["gen_ai.response.id"] == result.id and a["gen_ai.response.model"] == result.model
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert result.usage is not None
    assert a["gen_ai.usage.input_tokens"] == result.usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == result.usage.completion_tokens
    assert a["server.address"] == "127.0.0.1"
    assert loopback_server.base_url.endswith(f":{a['server.port']}")
    assert "error.type" not in a
    assert span.start_time is not None and span.end_time is not None
    assert result.duration is not None
    assert abs((span.end_time - span.start_time) / 1e9 - result.duration) < 0.05
    (first,) = span.events
    assert first.name == "gen_ai.first_chunk"
    assert result.gaps is not None
    assert a["streamactors.gap.max"] == result.gaps.max and a["streamactors.gap.stalls"] == 0


def _cancel_mid_stream(client: sa.Client) -> sa.StreamHandle:
    handle = client.chat("openai/gpt-4o-mini", MSGS)
    time.sleep(0.01)
    handle.cancel()
    return handle


def _break_out(client: sa.Client) -> sa.StreamHandle:
    s = client.stream("openai/gpt-4o-mini", MSGS)
    for _ in s:
        break
    return s.handle


def _task_cancelled(client: sa.Client) -> sa.StreamHandle:
    box: list[sa.StreamHandle] = []

    async def main() -> None:
        it = client.astream("openai/gpt-4o-mini", MSGS)

        async def read() -> None:
            async for _ in it:
                assert it.handle is not None
                box.append(it.handle)

        task = asyncio.ensure_future(read())
        while not box:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    return box[0]


def _actor_stopped(client: sa.Client) -> sa.StreamHandle:
    started = threading.Event()

    class Slow(sa.StreamingClient):
        def handle_data(self, chunk: sa.Chunk, stream: sa.StreamHandle) -> None:
            started.set()

    actor = Slow().start()
    handle = client.chat("openai/gpt-4o-mini", MSGS, stream_to=actor)
    assert started.wait(5)
    actor.stop(cancel_streams=True)
    actor.join(5)
    return handle


def _http_error(client: sa.Client, server: LoopbackServer) -> sa.StreamHandle:
    server.push(Script(fault=Fault("http_error", status=500)))
    return client.chat("openai/gpt-4o-mini", MSGS)


def _dropped(client: sa.Client, server: LoopbackServer) -> sa.StreamHandle:
    server.push(Script(text="a b c d", fault=Fault("drop", after=2)))
    return client.chat("openai/gpt-4o-mini", MSGS)


def _read_timeout(client: sa.Client, server: LoopbackServer) -> sa.StreamHandle:
    server.push(Script(text="a b c", fault=Fault("stall", after=1, seconds=5)))
    return client.chat("openai/gpt-4o-mini", MSGS, timeout=0.2)


@pytest.mark.parametrize(("how", "error"), [
    (_cancel_mid_stream, "StreamCancelled"),
    (_break_out, "StreamCancelled"),
    (_task_cancelled, "StreamCancelled"),
    (_actor_stopped, "StreamCancelled"),
    (_http_error, "InternalServerError"),
    (_dropped, "StreamConnectionError"),
    (_read_timeout, "ReadTimeout"),
])
def test_every_way_a_stream_can_end_ends_its_span_exactly_once(
        telemetry: Telemetry, client: sa.Client, loopback_server: LoopbackServer,
        how: Any, error: str) -> None:
    args = (client, loopback_server) if how in (_http_error, _dropped, _read_timeout) else (client,)
    handle = how(*args)
    spans = telemetry.of(handle)
    assert len(spans) == 1, spans
    (span,) = spans
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == error == type(handle.error).__name__
    time.sleep(0.05)
    assert len(telemetry.of(handle)) == 1  # and nothing later


def test_the_metrics(telemetry: Telemetry, client: sa.Client) -> None:
    handles = [client.chat("openai/gpt-4o-mini", MSGS) for _ in range(3)]
    for h in handles:
        h.wait(10)
    for h in handles:
        telemetry.of(h)
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.count == 3 and duration.explicit_bounds[:3] == (0.01, 0.02, 0.04)
    assert duration.attributes["gen_ai.provider.name"] == "openai"
    tokens = {p.attributes["gen_ai.token.type"]: p for p in
              telemetry.points("gen_ai.client.token.usage")}
    assert tokens["input"].count == 3 and tokens["input"].sum == 3 * 12
    assert tokens["output"].count == 3
    (first,) = telemetry.points("gen_ai.client.operation.time_to_first_chunk")
    (per,) = telemetry.points("gen_ai.client.operation.time_per_output_chunk")
    assert first.count == 3 and per.count == 3 and per.sum > 0


def test_uninstrument_stops_reporting(telemetry: Telemetry, client: sa.Client) -> None:
    otel.uninstrument()
    handle = client.chat("openai/gpt-4o-mini", MSGS)
    handle.wait(10)
    assert telemetry.spans.get_finished_spans() == ()
    otel.instrument(tracer_provider=telemetry.tracer_provider,
                    meter_provider=telemetry.meter_provider)
    otel.instrument(tracer_provider=telemetry.tracer_provider,  # again: replaces, not doubles
                    meter_provider=telemetry.meter_provider)
    handle = client.chat("openai/gpt-4o-mini", MSGS)
    handle.wait(10)
    assert len(telemetry.of(handle)) == 1


EXIT_SCRIPT = """
import time
import streamactors as sa
from streamactors import otel
from streamactors.testing import Fault, LoopbackServer, Script
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult


class Printer(SpanExporter):
    def export(self, spans):
        for s in spans:
            print("SPAN", s.name, s.attributes.get("error.type"), flush=True)
        return SpanExportResult.SUCCESS


provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(Printer()))
otel.instrument(tracer_provider=provider)
server = LoopbackServer(Script(text="a b c", fault=Fault("stall", after=1, seconds=30))).start()
handle = sa.chat("openai/gpt-4o-mini", [{"role": "user", "content": "Hi"}],
                 base_url=server.url("openai"), api_key="k")
time.sleep(0.3)
print("exiting", flush=True)
"""


def test_a_stream_cut_by_interpreter_exit_still_reports_its_span() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines == ["exiting", "SPAN chat gpt-4o-mini StreamCancelled"], done.stdout


def test_retries_and_fallbacks_are_events_on_the_span(
        telemetry: Telemetry, loopback_server: LoopbackServer) -> None:
    loopback_server.script = Script(text="one two")
    loopback_server.push(Script(fault=Fault("http_error", status=503)))
    with sa.Client(base_url=loopback_server.url("openai"), api_key="k", max_retries=1) as c:
        retried = c.chat("openai/gpt-4o-mini", MSGS)
        retried.wait(15)
    (span,) = telemetry.of(retried)
    (retry,) = [e for e in span.events if e.name == "streamactors.retry"]
    (first,) = [e for e in span.events if e.name == "gen_ai.first_chunk"]
    assert span.start_time is not None and span.start_time < retry.timestamp < first.timestamp
    assert dict(retry.attributes or {}) == {"error.type": "ServiceUnavailableError",
                                            "streamactors.detail": "1"}
    assert (span.attributes or {})["streamactors.stream.retries"] == 1

    loopback_server.push(Script(fault=Fault("http_error", status=529, message="overloaded")))
    router = sa.Router({
        "primary": {"model": "anthropic/claude-haiku-4-5", "fallbacks": ["backup"],
                    "base_url": loopback_server.url("anthropic"), "api_key": "k",
                    "max_retries": 0},
        "backup": {"model": "openai/gpt-4o-mini", "base_url": loopback_server.url("openai"),
                   "api_key": "k"},
    })
    try:
        moved = router.chat("primary", MSGS)
        moved.wait(15)
    finally:
        router.close()
    (span,) = telemetry.of(moved)
    (fallback,) = [e for e in span.events if e.name == "streamactors.fallback"]
    assert dict(fallback.attributes or {}) == {"error.type": "OverloadedError",
                                               "streamactors.detail": "backup"}
    assert (span.attributes or {})["streamactors.route"] == "backup"
    assert span.name == "chat gpt-4o-mini"  # the model that served
