"""Every fault of the loopback server against every target, bounded or not.

For each combination the stream must end with exactly one terminal message
of the expected kind, every chunk sent before the fault must have been
delivered in order (and nothing twice), the error must carry the partial
result, and no worker thread, server connection or file descriptor may be
left behind (guarantees 1, 2, 3, 6 and 8 of DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import streamactors
from streamactors import (
    AuthenticationError,
    IncompleteStream,
    InternalServerError,
    NotFoundError,
    OverloadedError,
    ProtocolError,
    ProviderError,
    RateLimitError,
    ReadTimeout,
    ServiceUnavailableError,
    StreamConnectionError,
    StreamError,
)
from streamactors.testing import Fault, LoopbackServer, Script

from . import (
    MODELS,
    TARGETS,
    Outcome,
    Target,
    assert_no_leaks,
    chat_kwargs,
    make_client,
    open_fds,
    run_stream,
    stream_threads,
    wait_until,
)

pytestmark = pytest.mark.timeout(20)

TOKENS = ("one", " two", " three", " four", " five")
TEXT = "".join(TOKENS)
# Long enough for headers on a loaded 2-core machine, short for stall cases.
READ_TIMEOUT = 0.6
MAX_EVENT = 64 * 1024


@dataclass(frozen=True)
class Case:
    """One fault and what the client must make of it.

    Attributes:
        fault: what the server does.
        expect: the error types accepted (empty: the stream must finish).
        delivered: text tokens delivered before the fault (None: all).
        max_retries: given to the call.
        requests: requests the server must have seen.
    """

    fault: Fault
    expect: tuple[type[StreamError], ...] = ()
    delivered: int | None = None
    max_retries: int = 0
    requests: int = 1

    @property
    def id(self) -> str:
        f = self.fault
        return f"{f.kind}-{f.status}" if f.kind == "http_error" else f.kind


CASES = [
    Case(Fault("stall", after=2, seconds=10), (ReadTimeout,), 2),
    Case(Fault("drop", after=2), (StreamConnectionError, IncompleteStream), 2, max_retries=2),
    Case(Fault("drop_mid_line", after=2), (StreamConnectionError, IncompleteStream), 2,
         max_retries=2),
    Case(Fault("slow_drip", delay=0.0)),
    Case(Fault("malformed_json", after=2), (ProtocolError,), 2),
    Case(Fault("oversized_event", after=2, size=4 * MAX_EVENT), (ProtocolError,), 2),
    Case(Fault("http_error", status=401, message="bad key"), (AuthenticationError,), 0,
         max_retries=2),
    Case(Fault("http_error", status=404, message="no such model"), (NotFoundError,), 0,
         max_retries=2),
    Case(Fault("http_error", status=429, retry_after=0), (RateLimitError,), 0, 1, 2),
    Case(Fault("http_error", status=500, retry_after=0), (InternalServerError,), 0, 1, 2),
    Case(Fault("http_error", status=503, retry_after=0), (ServiceUnavailableError,), 0, 1, 2),
    Case(Fault("http_error", status=529, retry_after=0), (OverloadedError,), 0, 1, 2),
    Case(Fault("error_event", after=2, message="the model broke"), (ProviderError,), 2,
         max_retries=2),
    Case(Fault("empty_body"), (IncompleteStream,), 0),
    Case(Fault("html_200"), (ProtocolError,), 0, max_retries=2),
    Case(Fault("gzip")),
]


def check_outcome(case: Case, out: Outcome, server: LoopbackServer, requests_before: int) -> None:
    """Assert everything the matrix promises about one finished stream."""
    assert len(out.terminals) == 1, f"terminal messages: {out.terminals!r}"
    assert out.after_terminal == 0, "messages arrived after the terminal one"
    assert out.handle is not None and out.handle.done()
    assert len(server.requests) - requests_before == case.requests
    if not case.expect:
        assert out.texts == list(TOKENS)
        result = out.result
        assert result.text == TEXT
        assert result.finish_reason == "stop"
        assert result.chunks == len(out.chunks)
        assert out.handle.result is result and out.handle.error is None
        return
    err = out.error
    assert isinstance(err, case.expect), f"{type(err).__name__}: {err}"
    assert out.handle.error is err and out.handle.result is None
    assert case.delivered is not None
    # Every chunk before the fault arrived, in order, once; the error carries them.
    assert out.texts == list(TOKENS[: case.delivered])
    assert err.partial is not None
    assert err.partial.text == "".join(TOKENS[: case.delivered])
    assert err.partial.chunks == len(out.chunks)
    assert err.retries == case.requests - 1
    assert err.partial.retries == err.retries
    if isinstance(err, ProtocolError) and case.fault.kind == "malformed_json":
        assert err.payload, "the malformed data must be attached"
    if case.fault.kind == "http_error":
        assert getattr(err, "status_code", None) == case.fault.status
        assert case.fault.message in str(err)


@pytest.mark.parametrize("bounded", [False, True], ids=["unbounded", "bounded"])
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault_matrix(
    shared_server: LoopbackServer, case: Case, target: Target, bounded: bool
) -> None:
    server = shared_server
    server.script = Script(tokens=TOKENS, fault=case.fault)
    assert wait_until(lambda: not stream_threads() and server.connections_open == 0)
    fds = open_fds()
    before = len(server.requests)
    client = make_client(
        server,
        timeout=streamactors.Timeout(connect=2.0, read=READ_TIMEOUT),
        max_retries=case.max_retries,
        max_event_bytes=MAX_EVENT,
    )
    try:
        out = run_stream(client, MODELS["openai"], target, bounded=bounded)
    finally:
        client.close()
    check_outcome(case, out, server, before)
    assert_no_leaks(server, fds)


PROVIDERS = ["openai", "openai-responses", "anthropic", "gemini", "ollama", "mistral",
             "openrouter"]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault_per_provider(shared_server: LoopbackServer, case: Case, provider: str) -> None:
    """The same outcomes whatever the wire format (one target: a queue)."""
    server = shared_server
    server.script = Script(tokens=TOKENS, fault=case.fault)
    assert wait_until(lambda: not stream_threads() and server.connections_open == 0)
    fds = open_fds()
    before = len(server.requests)
    client = make_client(
        server,
        provider,
        timeout=streamactors.Timeout(connect=2.0, read=READ_TIMEOUT),
        max_retries=case.max_retries,
        max_event_bytes=MAX_EVENT,
    )
    try:
        out = run_stream(client, MODELS[provider], "queue", **chat_kwargs(provider))
    finally:
        client.close()
    check_outcome(case, out, server, before)
    assert_no_leaks(server, fds)


@pytest.mark.parametrize("target", TARGETS)
def test_clean_stream_reuses_its_connection(shared_server: LoopbackServer, target: Target) -> None:
    """A stream read to its end gives its connection back to the pool: the
    next stream on the same client opens no new TCP connection."""
    server = shared_server
    server.script = Script(tokens=TOKENS)
    client = make_client(server)
    try:
        run_stream(client, MODELS["openai"], target)
        opened = server.connections_total
        out = run_stream(client, MODELS["openai"], target)
        assert out.result.text == TEXT
        assert server.connections_total == opened
    finally:
        client.close()


@pytest.mark.parametrize("kind", ["drop", "drop_mid_line", "stall", "oversized_event"])
def test_broken_connection_is_never_pooled(shared_server: LoopbackServer, kind: str) -> None:
    """A connection whose body was not read to its end is discarded, not
    pooled: the server sees it closed and the next stream opens a new one.
    (After an in-band error or malformed event whose body did end, the
    connection is clean and may be reused.)"""
    server = shared_server
    server.script = Script(tokens=TOKENS, fault=Fault(kind, after=1, seconds=10,  # type: ignore[arg-type]
                                                         size=4 * MAX_EVENT))
    client = make_client(server, timeout=streamactors.Timeout(connect=2, read=READ_TIMEOUT),
                         max_retries=0, max_event_bytes=MAX_EVENT)
    try:
        out = run_stream(client, MODELS["openai"], "queue")
        assert out.terminals and out.error
        assert wait_until(lambda: server.connections_open == 0)
        opened = server.connections_total
        server.script = Script(tokens=TOKENS)
        assert run_stream(client, MODELS["openai"], "queue").result.text == TEXT
        assert server.connections_total == opened + 1
    finally:
        client.close()
