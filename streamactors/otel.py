"""OpenTelemetry for every stream, by the GenAI semantic conventions.

``instrument()`` makes every stream report one span and four metrics (extra
``[otel]``: ``opentelemetry-api`` only; the SDK and exporters are yours).
Nothing here is imported, and nothing costs anything, until it is called.

A span is made from the stream's one metrics record (``streamactors.metrics``),
which the worker hands over exactly once per stream, from the place that
sends its terminal message: after a normal end, an error, a cancel, a
``break`` out of ``stream()``, a cancelled asyncio task, an actor stopped
mid-stream or interpreter exit. The span is started and ended there, with the
stream's own start and end times, so it can never stay open, and never ends
twice. The cost is that it is not current while the stream runs: spans of
your own code are not nested under it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

try:
    from opentelemetry import metrics as otel_metrics
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - the extra is not installed
    raise ImportError("streamactors.otel needs OpenTelemetry's API: "
                      "pip install 'streamactors[otel]'") from exc

from . import metrics
from ._version import __version__
from .metrics import StreamMetrics

__all__ = ["instrument", "uninstrument"]

#: ``gen_ai.provider.name`` of each model prefix (the conventions' values
#: where they have one).
PROVIDER_NAMES = {"openai": "openai", "anthropic": "anthropic", "gemini": "gcp.gemini",
                  "mistral": "mistral_ai", "openrouter": "openrouter", "ollama": "ollama",
                  "openai-compatible": "openai"}
#: ``gen_ai.request.*`` of the request fields the conventions name.
REQUEST_ATTRIBUTES = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k",
                      "max_tokens": "max_tokens", "max_completion_tokens": "max_tokens",
                      "stop": "stop_sequences", "seed": "seed", "n": "choice.count",
                      "frequency_penalty": "frequency_penalty",
                      "presence_penalty": "presence_penalty"}
# Bucket boundaries the conventions give (durations in seconds).
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                    40.96, 81.92]
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                 16777216, 67108864]
FIRST_CHUNK_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
                       2.5, 5.0, 7.5, 10.0]
PER_CHUNK_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5]

_lock = threading.Lock()
_remove: Callable[[], None] | None = None


def instrument(*, tracer_provider: trace.TracerProvider | None = None,
               meter_provider: otel_metrics.MeterProvider | None = None) -> None:
    """Report every stream from now on (the global providers when None).
    Calling it again replaces the previous instrumentation."""
    global _remove
    tracer = trace.get_tracer("streamactors", __version__, tracer_provider)
    meter = otel_metrics.get_meter("streamactors", __version__, meter_provider)
    recorder = _Recorder(tracer, meter)
    with _lock:
        if _remove is not None:
            _remove()
        _remove = metrics.add_listener(recorder)


def uninstrument() -> None:
    """Stop reporting streams (those already ended are reported)."""
    global _remove
    with _lock:
        if _remove is not None:
            _remove()
            _remove = None


class _Recorder:
    """The metrics listener: one span and the metrics of one stream."""

    def __init__(self, tracer: trace.Tracer, meter: otel_metrics.Meter) -> None:
        self._tracer = tracer
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
        self._first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk", unit="s",
            description="Time to the first chunk of a streamed answer.",
            explicit_bucket_boundaries_advisory=FIRST_CHUNK_BUCKETS)
        self._per_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_per_output_chunk", unit="s",
            description="Time per output chunk after the first.",
            explicit_bucket_boundaries_advisory=PER_CHUNK_BUCKETS)

    def __call__(self, record: StreamMetrics) -> None:
        end = time.time_ns()
        start = end - int((record.duration or 0.0) * 1e9)
        common = _common(record)
        span = self._tracer.start_span(
            f"{common['gen_ai.operation.name']} {common['gen_ai.request.model']}",
            kind=SpanKind.CLIENT, start_time=start, attributes=_span_attributes(record, common))
        if record.time_to_first_token is not None:
            span.add_event("gen_ai.first_chunk",
                           timestamp=start + int(record.time_to_first_token * 1e9))
        for event in record.events:  # retries and fallbacks, where they happened
            span.add_event(f"streamactors.{event.kind}", timestamp=start + int(event.at * 1e9),
                           attributes={"error.type": event.error_type,
                                       "streamactors.detail": event.detail})
        if not record.ok:
            span.set_status(Status(StatusCode.ERROR, record.error_type))
        span.end(end_time=end)
        self._record_metrics(record, common)

    def _record_metrics(self, record: StreamMetrics, common: dict[str, Any]) -> None:
        if record.duration is not None:
            self._duration.record(record.duration, common)
        for kind, count in (("input", record.prompt_tokens),
                            ("output", record.completion_tokens)):
            if count is not None and not record.estimated:
                self._tokens.record(count, {**common, "gen_ai.token.type": kind})
        ttft = record.time_to_first_token
        if ttft is not None:
            self._first_chunk.record(ttft, common)
            if record.ok and record.duration is not None and record.chunks > 1:
                self._per_chunk.record((record.duration - ttft) / (record.chunks - 1), common)


def _common(record: StreamMetrics) -> dict[str, Any]:
    """The attributes spans and metrics share."""
    provider, _, model = record.model.partition("/")
    out: dict[str, Any] = {
        "gen_ai.operation.name": record.operation,
        "gen_ai.provider.name": PROVIDER_NAMES.get(provider, provider),
        "gen_ai.request.model": model,
    }
    if record.response_model:
        out["gen_ai.response.model"] = record.response_model
    if record.server_address:
        out["server.address"] = record.server_address
        if record.server_port is not None:
            out["server.port"] = record.server_port
    if record.error_type:
        out["error.type"] = record.error_type
    return out


def _span_attributes(record: StreamMetrics, common: Mapping[str, Any]) -> dict[str, Any]:
    out = {**common, "gen_ai.request.stream": True}
    for field, value in record.request_params.items():
        name = REQUEST_ATTRIBUTES[field]
        out[f"gen_ai.request.{name}"] = [value] if name == "stop_sequences" and isinstance(
            value, str) else value
    if record.response_id:
        out["gen_ai.response.id"] = record.response_id
    if record.finish_reasons:
        out["gen_ai.response.finish_reasons"] = list(record.finish_reasons)
    usage = {"gen_ai.usage.input_tokens": record.prompt_tokens,
             "gen_ai.usage.output_tokens": record.completion_tokens,
             "gen_ai.usage.cache_read.input_tokens": record.cached_tokens,
             "gen_ai.usage.reasoning.output_tokens": record.reasoning_tokens}
    out.update({k: v for k, v in usage.items() if v is not None})
    if record.estimated:
        out["streamactors.usage.estimated"] = True
    if record.time_to_first_token is not None:
        out["gen_ai.response.time_to_first_chunk"] = record.time_to_first_token
    out["streamactors.stream.id"] = record.stream_id
    out["streamactors.stream.chunks"] = record.chunks
    if record.retries:
        out["streamactors.stream.retries"] = record.retries
    if record.route:
        out["streamactors.route"] = record.route
    gaps = record.gaps
    if gaps is not None:  # beyond the conventions: a stream slow in the middle
        out.update({"streamactors.gap.p50": gaps.p50, "streamactors.gap.p99": gaps.p99,
                    "streamactors.gap.max": gaps.max, "streamactors.gap.stalls": gaps.stalls})
    return out
