"""The public entry points: ``chat``, ``complete``, ``stream``, ``astream`` and
the ``Client`` that holds their defaults and the connection pool."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Callable, Generator, Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any

from ._chunk import Chunk
from ._result import StreamResult
from .actors._client import StreamingClient, mailbox_of
from .actors._sinks import CallableSink, Channel, PutSink, Sink
from .actors._stream import Message, StreamHandle
from .actors._worker import Plan, Worker
from .errors import ConfigurationError, StreamCancelled, UsageError
from .providers import HTTPRequest, Provider, ProviderConfig, RequestInput, Secret, resolve
from .sse import DEFAULT_MAX_EVENT_BYTES
from .transport._pool import DEFAULT_KEEPALIVE_EXPIRY
from .transport._requests import Transport
from .transport._timeouts import Timeout

__all__ = ["ChunkStream", "Client", "astream", "chat", "close", "complete", "default_client",
           "stream"]

#: Chunks buffered by ``stream()`` before the worker waits for the consumer
#: (a few socket reads' worth: enough to keep the worker busy, small enough
#: that a slow consumer holds memory flat).
STREAM_BUFFER = 1024
DEFAULT_MAX_RETRIES = 2

StreamTarget = Any  # StreamingClient | object with put() | Callable[[Message], Any] | None


def _check_messages(messages: Any) -> tuple[Mapping[str, Any], ...]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise ConfigurationError(
            "messages must be a list of {'role': ..., 'content': ...} dicts, got "
            f"{type(messages).__name__}; for a single prompt use "
            "[{'role': 'user', 'content': prompt}]"
        )
    if not messages:
        raise ConfigurationError("messages is empty: give at least one message")
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str):
            raise ConfigurationError(f"messages[{i}] must be a dict with a 'role', got {m!r:.80}")
    return tuple(messages)


def _make_sink(stream_to: StreamTarget) -> tuple[Sink, Channel | None]:
    if stream_to is None:
        channel = Channel()
        return channel, channel
    if isinstance(stream_to, StreamingClient):
        return mailbox_of(stream_to), None
    if callable(getattr(stream_to, "put", None)):
        return PutSink(stream_to), None
    if callable(stream_to):
        return CallableSink(stream_to), None
    hint = " (for a janus.Queue pass queue.sync_q)" if hasattr(stream_to, "sync_q") else ""
    raise ConfigurationError(
        "stream_to must be a started StreamingClient, an object with put() (such as "
        f"queue.Queue), a callable taking one message, or None; got {stream_to!r:.80}{hint}"
    )


class Client:
    """Defaults and a connection pool shared by many streams.

    Args:
        base_url: used for every model unless a call gives its own.
        api_key: used for every model unless a call gives its own.
        timeout: a number (connect and read seconds) or a ``Timeout``.
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
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        headers: Mapping[str, str] | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        pool_maxsize: int = 256,
        trust_env: bool = True,
        env: Mapping[str, str] | None = None,
        reader: str | None = None,
        verify: bool | str | None = None,
        keepalive_expiry: float = DEFAULT_KEEPALIVE_EXPIRY,
    ) -> None:
        self._base_url = base_url
        self._api_key = _secret(api_key)
        del api_key  # no plain key in this frame's locals from here on
        self._timeout = Timeout.coerce(timeout)
        self._max_retries = _check_retries(max_retries)
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
        self._transport = Transport(pool_maxsize=pool_maxsize, trust_env=trust_env,
                                    reader=reader, verify=verify,
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
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        api: str | None = None,
        headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> StreamHandle:
        """Start streaming a chat answer; returns its ``StreamHandle`` at once.

        Args:
            model: ``provider/model``, e.g. ``openai/gpt-4o-mini``.
            messages: OpenAI-form messages.
            stream_to: a started ``StreamingClient``, an object with ``put``, a
                callable taking one message, or None (iterate the handle).
            base_url, api_key: override the environment.
            timeout: a number or a ``Timeout``.
            max_retries: retries before the first chunk.
            api: ``"responses"`` for the OpenAI Responses API.
            headers: extra request headers.
            **params: the request's own fields (temperature, max_tokens, tools...),
                each translated for the provider or refused (see
                docs/providers.md); ``extra_body={...}`` is merged into the
                request body as it is, for fields the library does not know.

        Raises:
            ConfigurationError: before any request, for bad input.
        """
        key = _secret(api_key)
        del api_key  # no plain key in this frame's locals from here on
        return self._start(
            RequestInput("chat", _check_messages(messages), None, _params(params)),
            model, stream_to, None, base_url, key, timeout, max_retries, api, headers,
        )

    def complete(
        self,
        model: str,
        prompt: str,
        *,
        stream_to: StreamTarget = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> StreamHandle:
        """Start a legacy text completion (OpenAI ``/completions``, Ollama
        ``/api/generate``); same messages and handle as ``chat``."""
        key = _secret(api_key)
        del api_key  # no plain key in this frame's locals from here on
        if not isinstance(prompt, str):
            raise ConfigurationError(f"prompt must be a str, got {type(prompt).__name__}")
        return self._start(
            RequestInput("completion", (), prompt, _params(params)),
            model, stream_to, None, base_url, key, timeout, max_retries, None, headers,
        )

    def stream(
        self, model: str, messages: Sequence[Mapping[str, Any]], **kwargs: Any
    ) -> ChunkStream:
        """Iterate the chunks of a chat answer in plain sync code.

        Takes the same arguments as ``chat`` (except ``stream_to``). The
        stream's error is raised where it happened, after every chunk before
        it was yielded. Leaving the loop early cancels the stream.
        """
        _protect(kwargs)
        if "stream_to" in kwargs:
            raise ConfigurationError("stream() delivers to its iterator; drop stream_to")
        channel = Channel(STREAM_BUFFER)
        handle = self._start_kwargs(model, messages, channel, kwargs)
        return ChunkStream(handle, channel)

    def astream(
        self, model: str, messages: Sequence[Mapping[str, Any]], **kwargs: Any
    ) -> AsyncIterator[Chunk]:
        """Iterate the chunks of a chat answer with ``async for``, through a
        janus queue. Same arguments and error behaviour as ``stream``."""
        _protect(kwargs)
        if "stream_to" in kwargs:
            raise ConfigurationError("astream() delivers to its iterator; drop stream_to")
        from .actors._aio import AsyncChunkStream

        def start(sink: Sink) -> StreamHandle:
            return self._start_kwargs(model, messages, sink, kwargs)

        # Resolve now so that bad input raises at the call, not at first await.
        self._prepare(RequestInput("chat", _check_messages(messages), None,
                                   _params({k: v for k, v in kwargs.items()
                                            if k not in _CALL_OPTIONS})),
                      model, kwargs.get("base_url"), _secret(kwargs.get("api_key")),
                      kwargs.get("api"), kwargs.get("headers"))
        return AsyncChunkStream(start)

    # -- internals ---------------------------------------------------------------

    def _start_kwargs(self, model: str, messages: Any, sink: Sink,
                      kwargs: dict[str, Any]) -> StreamHandle:
        opts = {k: kwargs[k] for k in _CALL_OPTIONS if k in kwargs}
        params = {k: v for k, v in kwargs.items() if k not in _CALL_OPTIONS}
        return self._start(
            RequestInput("chat", _check_messages(messages), None, _params(params)),
            model, None, sink, opts.get("base_url"), _secret(opts.get("api_key")),
            opts.get("timeout"), opts.get("max_retries"), opts.get("api"), opts.get("headers"),
        )

    def _prepare(self, request: RequestInput, model: str, base_url: str | None,
                 api_key: Secret | None, api: str | None,
                 headers: Mapping[str, str] | None) -> tuple[Provider, ProviderConfig, HTTPRequest]:
        """Resolve ``model``, build its request, merge ``extra_body`` into it.

        ``base_url`` here belongs to the provider of ``model`` (a call's or a
        route's); the client's own ``base_url`` is a default for every
        provider, which never receives another provider's environment key.
        """
        provider, config = resolve(
            model,
            base_url=base_url,
            default_base_url=self._base_url,
            api_key=api_key or self._api_key,
            api=api,
            kind=request.kind,
            headers={**self._headers, **(headers or {})},
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

    def _start(
        self,
        request: RequestInput,
        model: str,
        stream_to: StreamTarget,
        sink: Sink | None,
        base_url: str | None,
        api_key: Secret | None,
        timeout: Timeout | float | None,
        max_retries: int | None,
        api: str | None,
        headers: Mapping[str, str] | None,
    ) -> StreamHandle:
        provider, config, http = self._prepare(request, model, base_url, api_key, api, headers)
        return self._start_plans(
            [Plan(provider, config, request, http)], model, stream_to, sink, timeout, max_retries
        )

    def _start_plans(
        self,
        plans: Sequence[Plan],
        model: str,
        stream_to: StreamTarget,
        sink: Sink | None,
        timeout: Timeout | float | None,
        max_retries: int | None,
    ) -> StreamHandle:
        """Start one worker over ``plans`` (tried in order; used by ``Router``)."""
        channel: Channel | None = None
        if sink is None:
            sink, channel = _make_sink(stream_to)
        handle = StreamHandle(model, channel=channel)
        worker = Worker(
            handle,
            plans=plans,
            transport=self._transport,
            sink=sink,
            timeout=self._timeout if timeout is None else Timeout.coerce(timeout),
            max_retries=self._max_retries if max_retries is None else _check_retries(max_retries),
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


_CALL_OPTIONS = ("base_url", "api_key", "timeout", "max_retries", "api", "headers")


def _secret(api_key: str | Secret | None) -> Secret | None:
    """A key as a ``Secret`` (None for none), the moment it enters the library."""
    if api_key is None or isinstance(api_key, Secret):
        return api_key
    if not isinstance(api_key, str):
        raise ConfigurationError(f"api_key must be a str, got {type(api_key).__name__}")
    return Secret(api_key) if api_key else None


def _protect(kwargs: dict[str, Any]) -> None:
    """Wrap a plain ``api_key`` among ``**kwargs`` in a ``Secret`` in place, so
    no frame that holds those kwargs shows the key (tracebacks printed with
    their locals, error trackers)."""
    if "api_key" in kwargs:
        kwargs["api_key"] = _secret(kwargs["api_key"])


def _params(params: dict[str, Any]) -> dict[str, Any]:
    if params.get("stream", True) is not True:
        raise ConfigurationError("streamactors always streams: drop stream=False")
    params.pop("stream", None)
    return params


def _check_retries(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"max_retries must be an int >= 0, got {value!r}")
    return value


class ChunkStream:
    """The iterator ``stream()`` returns: chunks in order, then the stream's
    error raised if it failed. ``handle`` gives the result afterwards.

    The stream stops the moment nobody reads it: leaving the ``for`` loop
    early (``break``, an exception, a ``return``) cancels it at once, even
    while this object is still referenced, because the loop holds the only
    reference to the iterator it got; so do ``close()`` and leaving a
    ``with`` block. It can be iterated once: iterating it again is a
    ``UsageError``, never a silent empty loop.
    """

    def __init__(self, handle: StreamHandle, channel: Channel) -> None:
        self.handle = handle
        self._channel = channel
        self._given = False
        #: the iterator ``next()`` calls use (a for loop never leaves one here)
        self._it: Generator[Chunk, None, None] | None = None

    def __iter__(self) -> Generator[Chunk, None, None]:
        # The generator itself (a for loop pays no wrapper call per chunk),
        # not kept here: when the loop ends early and drops it, its cleanup
        # cancels the stream at once.
        if self._it is not None:  # next() came first: the loop takes over
            it, self._it = self._it, None
            return it
        if self._given:
            raise UsageError(self._again())
        self._given = True
        return self._channel.chunks(self.handle)

    def __next__(self) -> Chunk:
        if self._it is None:
            if self._given:
                if self._channel.consumed == "ended":
                    raise StopIteration
                raise UsageError(self._again())
            self._given = True
            self._it = self._channel.chunks(self.handle)
        return next(self._it)

    def _again(self) -> str:
        if self._channel.consumed == "abandoned":
            return (f"{self.handle.id}: this stream() was left early (break or an exception) "
                    "and was cancelled then; a stream() can be iterated once: start a new one")
        return (f"{self.handle.id}: this stream() was already iterated; a stream() can be "
                "iterated once: read its outcome with .result / .handle, or start a new one")

    @property
    def result(self) -> StreamResult | None:
        return self.handle.result

    def close(self) -> None:
        """Cancel the stream if it is still running."""
        if self._it is not None:
            self._it.close()
        self._given = True
        if not self.handle.done():
            self.handle.cancel()

    def __enter__(self) -> ChunkStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # Never iterated: nobody will read this stream, so do not let its
        # worker wait on a full buffer forever.
        try:
            if not self._given and not self.handle.done():
                self.handle.cancel()
        except Exception:
            pass


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


def chat(model: str, messages: Sequence[Mapping[str, Any]], **kwargs: Any) -> StreamHandle:
    """``Client.chat`` on the default client."""
    _protect(kwargs)
    return default_client().chat(model, messages, **kwargs)


def complete(model: str, prompt: str, **kwargs: Any) -> StreamHandle:
    """``Client.complete`` on the default client."""
    _protect(kwargs)
    return default_client().complete(model, prompt, **kwargs)


def stream(model: str, messages: Sequence[Mapping[str, Any]], **kwargs: Any) -> ChunkStream:
    """``Client.stream`` on the default client."""
    _protect(kwargs)
    return default_client().stream(model, messages, **kwargs)


def astream(
    model: str, messages: Sequence[Mapping[str, Any]], **kwargs: Any
) -> AsyncIterator[Chunk]:
    """``Client.astream`` on the default client."""
    _protect(kwargs)
    return default_client().astream(model, messages, **kwargs)


Handler = Callable[[Message], Any]
