"""The public entry points: ``chat``, ``complete``, ``stream``, ``astream`` and
the ``Client`` that holds their defaults and the connection pool.

Every entry point takes typed keywords: the call's options (``base_url``,
``api_key``, ``timeout``, ``max_retries``, ``api``, ``headers``), checked once
into a ``CallOptions`` (see ``_options``), and the request's own fields
(``RequestFields``: ``temperature``, ``tools``...), which the provider's codec
translates, passes or refuses, each by name.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._chunk_stream import ChunkStream
from ._options import (
    NOT_GIVEN,
    CallOptions,
    NotGiven,
    StreamTarget,
    check_messages,
    check_retries,
    coerce_timeout,
    make_sink,
    on_default,
    request_params,
    secret,
)
from ._request_fields import CompletionFields, RequestFields
from .actors._plan import Plan
from .actors._sinks import Channel, Sink
from .actors._stream import StreamHandle
from .actors._worker import Worker
from .errors import ConfigurationError, StreamCancelled
from .providers import HTTPRequest, Provider, ProviderConfig, RequestInput, resolve
from .sse import DEFAULT_MAX_EVENT_BYTES
from .transport._pool import DEFAULT_KEEPALIVE_EXPIRY
from .transport._requests import RequestsTransport, Transport
from .transport._timeouts import DEFAULT_TIMEOUT, Timeout

if TYPE_CHECKING:  # imported on first use: it imports asyncio and janus
    from .actors._aio import AsyncChunkStream

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover
    from typing_extensions import Unpack

__all__ = ["ChunkStream", "Client", "astream", "chat", "close", "complete", "default_client",
           "stream"]

#: Chunks buffered by ``stream()`` before the worker waits for the consumer
#: (a few socket reads' worth: enough to keep the worker busy, small enough
#: that a slow consumer holds memory flat).
STREAM_BUFFER = 1024
DEFAULT_MAX_RETRIES = 2

_check_retries = check_retries  # the relay's name for it


class Client:
    """Defaults and a connection pool shared by many streams.

    Args:
        base_url: used for every model unless a call gives its own.
        api_key: used for every model unless a call gives its own.
        timeout: a number (connect and read seconds), a ``Timeout``, or None
            for no time limit at all; left out: ``Timeout()`` (connect 10 s,
            read 300 s, idle 120 s).
        max_retries: retries before the first chunk (default 2).
        headers: extra headers on every request.
        max_event_bytes: largest single SSE event / NDJSON line accepted.
        pool_maxsize: connections kept per host.
        trust_env: take proxy settings from the environment.
        env: where keys and base URLs are looked up (default ``os.environ``).
        verify: TLS verification: True (the default: the system's CAs, or
            the bundle ``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE`` names when
            ``trust_env``), False (no verification: tests only), or the path
            of a CA bundle (a private CA).
        keepalive_expiry: seconds an idle pooled connection is kept open.
        reader: ``"reactor"`` (default): one selector thread reads the
            bodies of streams whose target never blocks (an unbounded mailbox
            or queue, a handle's own buffer), cutting the per-chunk wake-ups
            of hundreds of paced streams; ``"thread"``: each worker reads its
            own body. Either way every stream has its worker thread, order,
            cancel and exactly one terminal message. The
            ``STREAMACTORS_READER`` environment variable sets the default.
        transport: send requests and read bodies through this ``Transport``
            instead of the built-in one over requests (in tests, a
            ``streamactors.transport.fake.FakeTransport``); ``pool_maxsize``,
            ``trust_env``, ``verify``, ``keepalive_expiry`` and ``reader``
            then do not apply.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int = DEFAULT_MAX_RETRIES,
        headers: Mapping[str, str] | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        pool_maxsize: int = 256,
        trust_env: bool = True,
        env: Mapping[str, str] | None = None,
        reader: str | None = None,
        verify: bool | str | None = None,
        keepalive_expiry: float = DEFAULT_KEEPALIVE_EXPIRY,
        transport: Transport | None = None,
    ) -> None:
        self._base_url = base_url
        self._api_key = secret(api_key)
        del api_key  # no plain key in this frame's locals from here on
        self._timeout = (DEFAULT_TIMEOUT if isinstance(timeout, NotGiven)
                         else coerce_timeout(timeout))
        self._max_retries = check_retries(max_retries)
        self._headers = dict(headers or {})
        self._max_event_bytes = max_event_bytes
        self._env = env
        if reader is None:
            reader = os.environ.get("STREAMACTORS_READER") or "reactor"
        if reader not in ("thread", "reactor"):
            raise ConfigurationError(f"reader must be 'thread' or 'reactor', got {reader!r}")
        if isinstance(keepalive_expiry, bool) or not isinstance(keepalive_expiry, (int, float)) \
                or keepalive_expiry <= 0:
            raise ConfigurationError(
                f"keepalive_expiry must be a positive number of seconds, got {keepalive_expiry!r}")
        self._transport: Transport = transport if transport is not None else RequestsTransport(
            pool_maxsize=pool_maxsize, trust_env=trust_env, reader=reader, verify=verify,
            keepalive_expiry=float(keepalive_expiry))


    def __repr__(self) -> str:
        return f"<Client base_url={self._base_url!r} timeout={self._timeout!r}>"

    def close(self) -> None:
        """Close pooled connections (running streams keep theirs)."""
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- entry points ----------------------------------------------------------

    def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        stream_to: StreamTarget = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        api: str | None = None,
        headers: Mapping[str, str] | None = None,
        **fields: Unpack[RequestFields],
    ) -> StreamHandle:
        """Start streaming a chat answer; returns its ``StreamHandle`` at once.

        Args:
            model: ``provider/model``, e.g. ``openai/gpt-4o-mini``.
            messages: OpenAI-form messages.
            stream_to: a started ``StreamingClient``, an object with ``put`` (a
                queue), a callable taking one message, or None (iterate the
                handle).
            base_url, api_key: for this call (None: the client's, then the
                environment's).
            timeout: a number (connect and read seconds), a ``Timeout``, or
                None for no time limit at all; left out: the client's.
            max_retries: retries before the first chunk; left out: the client's.
            api: ``"responses"`` for the OpenAI Responses API.
            headers: extra request headers, over the client's.
            **fields: the request's own fields (``RequestFields``: temperature,
                max_tokens, tools...), each translated for the provider or
                refused (see docs/providers.md); ``extra_body={...}`` is merged
                into the request body as it is, for fields the library does
                not know.

        Raises:
            ConfigurationError: before any request, for bad input.
        """
        key = secret(api_key)
        del api_key  # no plain key in this frame's locals from here on
        opts = CallOptions.build(base_url, key, timeout, max_retries, api, headers)
        request = RequestInput("chat", check_messages(messages), None, request_params(fields))
        return self._start_plans([self._plan(request, model, opts)], model, opts, stream_to)

    def complete(
        self,
        model: str,
        prompt: str,
        *,
        stream_to: StreamTarget = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        headers: Mapping[str, str] | None = None,
        **fields: Unpack[CompletionFields],
    ) -> StreamHandle:
        """Start a legacy text completion (OpenAI ``/completions``, Ollama
        ``/api/generate``); same options, messages and handle as ``chat``."""
        key = secret(api_key)
        del api_key  # no plain key in this frame's locals from here on
        opts = CallOptions.build(base_url, key, timeout, max_retries, None, headers)
        if not isinstance(prompt, str):
            raise ConfigurationError(f"prompt must be a str, got {type(prompt).__name__}")
        request = RequestInput("completion", (), prompt, request_params(fields))
        return self._start_plans([self._plan(request, model, opts)], model, opts, stream_to)

    def stream(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        api: str | None = None,
        headers: Mapping[str, str] | None = None,
        **fields: Unpack[RequestFields],
    ) -> ChunkStream:
        """Iterate the chunks of a chat answer in plain sync code.

        Takes the same arguments as ``chat`` (except ``stream_to``). The
        stream's error is raised where it happened, after every chunk before
        it was yielded. Leaving the loop early cancels the stream.
        """
        key = secret(api_key)
        del api_key  # no plain key in this frame's locals from here on
        opts = CallOptions.build(base_url, key, timeout, max_retries, api, headers)
        params = request_params(fields, "stream")
        request = RequestInput("chat", check_messages(messages), None, params)
        return self._iterate([self._plan(request, model, opts)], model, opts)

    def astream(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        api: str | None = None,
        headers: Mapping[str, str] | None = None,
        **fields: Unpack[RequestFields],
    ) -> AsyncChunkStream:
        """Iterate the chunks of a chat answer with ``async for``, through a
        janus queue. Same arguments and error behaviour as ``stream``."""
        key = secret(api_key)
        del api_key  # no plain key in this frame's locals from here on
        opts = CallOptions.build(base_url, key, timeout, max_retries, api, headers)
        params = request_params(fields, "astream")
        request = RequestInput("chat", check_messages(messages), None, params)
        # Built now, so that bad input raises at the call, not at the first await.
        return self._aiterate([self._plan(request, model, opts)], model, opts)

    # -- internals ----------------------------------------------------------------

    def _plan(self, request: RequestInput, model: str, opts: CallOptions) -> Plan:
        provider, config, http = self._prepare(request, model, opts)
        return Plan(provider, config, request, http)

    def _prepare(self, request: RequestInput, model: str,
                 opts: CallOptions) -> tuple[Provider, ProviderConfig, HTTPRequest]:
        """Resolve ``model``, build its request, merge ``extra_body`` into it.

        ``opts.base_url`` belongs to the provider of ``model`` (a call's or a
        route's); the client's own ``base_url`` is a default for every
        provider, which never receives another provider's environment key.
        """
        provider, config = resolve(
            model,
            base_url=opts.base_url,
            default_base_url=self._base_url,
            api_key=opts.api_key or self._api_key,
            api=opts.api,
            kind=request.kind,
            headers={**self._headers, **opts.headers},
            env=self._env,
        )
        extra = request.params.get("extra_body")
        if extra is None:
            return provider, config, provider.build_request(config, request)
        if not isinstance(extra, Mapping) or not all(isinstance(k, str) for k in extra):
            raise ConfigurationError(
                f"extra_body must be a dict of request fields, got {extra!r:.80}")
        params = {k: v for k, v in request.params.items() if k != "extra_body"}
        http = provider.build_request(config, replace(request, params=params))
        return provider, config, replace(http, body={**http.body, **extra})

    def _iterate(self, plans: Sequence[Plan], model: str, opts: CallOptions) -> ChunkStream:
        """Start a stream over ``plans`` into a bounded channel to iterate."""
        channel = Channel(STREAM_BUFFER)
        first = plans[0].request
        return ChunkStream(self._start_plans(plans, model, opts, sink=channel), channel,
                           first.output, first.tool_specs)

    def _aiterate(self, plans: Sequence[Plan], model: str,
                  opts: CallOptions) -> AsyncChunkStream:
        """An ``async for`` over a stream of ``plans``, started at the first
        ``await`` (in the event loop that iterates it)."""
        from .actors._aio import AsyncChunkStream

        def start(sink: Sink) -> StreamHandle:
            return self._start_plans(plans, model, opts, sink=sink)

        return AsyncChunkStream(start, plans[0].request.output, plans[0].request.tool_specs)

    def _start_plans(self, plans: Sequence[Plan], model: str, opts: CallOptions,
                     stream_to: object = None, sink: Sink | None = None) -> StreamHandle:
        """Start one worker over ``plans`` (tried in order; a ``Router`` gives
        a route and its fallbacks), delivering to ``sink`` if given, else to
        ``stream_to``'s."""
        channel: Channel | None = None
        if sink is None:
            sink, channel = make_sink(stream_to)
        handle = StreamHandle(model, channel=channel)
        handle._output = plans[0].request.output
        handle._tool_specs = plans[0].request.tool_specs
        timeout, retries = opts.timeout, opts.max_retries
        worker = Worker(
            handle,
            plans=plans,
            transport=self._transport,
            sink=sink,
            timeout=self._timeout if isinstance(timeout, NotGiven) else timeout,
            max_retries=self._max_retries if isinstance(retries, NotGiven) else retries,
            max_event_bytes=self._max_event_bytes,
        )
        try:
            worker.start()
        except StreamCancelled as exc:
            raise ConfigurationError(
                f"stream_to {stream_to!r} does not accept streams: {exc.message}; "
                "start() it first (or use it as a context manager)"
            ) from None
        return handle


_default: Client | None = None
_default_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _default_lock
    _default_lock = threading.Lock()  # another thread may have held it at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def default_client() -> Client:
    """The process-wide ``Client`` behind the module-level functions (made on
    first use, again after ``close()``)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
        return _default


def close() -> None:
    """Close the default client's pooled connections (streams still running
    keep theirs); the next module-level call starts a fresh client. Idle
    connections also close by themselves after ``keepalive_expiry`` (30 s)."""
    global _default
    with _default_lock:
        client, _default = _default, None
    if client is not None:
        client.close()


# The module-level functions: each with its method's signature and docs.
chat = on_default(default_client, Client.chat)
complete = on_default(default_client, Client.complete)
stream = on_default(default_client, Client.stream)
astream = on_default(default_client, Client.astream)
