"""``Router``: named model configurations with fallbacks and concurrency limits.

A route is a name for a model and its settings (``temperature``, keys, base
URL...). Calling a route starts one stream; if the route fails before its
first chunk (after its own retries) the stream moves on to the route's
fallbacks, in order, and ``result.route`` tells which one served. Once a
chunk was delivered the stream never falls back: the caller would see two
answers spliced together. ``max_concurrent`` bounds the streams a route runs
at once; extra streams wait for a slot (``handle.waiting`` is True meanwhile)
instead of opening more connections.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
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
    request_params,
)
from ._request_fields import RequestFields
from .actors._plan import Plan
from .actors._stream import StreamHandle
from .api import Client
from .errors import ConfigurationError
from .providers import PROVIDERS, RequestInput, Secret
from .providers import _normalize_ollama_host as normalize_ollama_host

if TYPE_CHECKING:  # imported on first use: it imports asyncio and janus
    from .actors._aio import AsyncChunkStream
from .transport._timeouts import Timeout

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover
    from typing_extensions import Unpack

__all__ = ["DEFAULT_MODELS", "Route", "Router", "configured_providers"]

#: The model ``Router.from_env`` gives each provider's route, in its order.
DEFAULT_MODELS: Mapping[str, str] = MappingProxyType({
    "openai": "openai/gpt-4o-mini",
    "anthropic": "anthropic/claude-haiku-4-5",
    "gemini": "gemini/gemini-2.5-flash",
    "mistral": "mistral/mistral-small-latest",
    "openrouter": "openrouter/openai/gpt-4o-mini",
    "ollama": "ollama/llama3.1",
})

# Route settings that configure the call rather than go into the request body.
_CONNECTION_KEYS = frozenset({"base_url", "api_key", "api", "headers"})
_ROUTE_KEYS = frozenset({"model", "fallbacks", "max_concurrent", "timeout", "max_retries"})
_NOT_PARAMS = _ROUTE_KEYS | _CONNECTION_KEYS
# What a route fixes and a call cannot change (they arrive among the fields).
_ROUTE_ONLY = ("api", "api_key", "base_url", "model")


@dataclass(frozen=True)
class Route:
    """One named model configuration (see ``Router``).

    Attributes:
        name: the route's name.
        model: ``provider/model``.
        params: request fields sent with every call (temperature, max_tokens...).
        fallbacks: routes tried, in order, when this one fails before any data.
        max_concurrent: streams this route runs at once (None: no limit).
        base_url, api_key, api, headers: as for ``Client.chat``.
        timeout, max_retries: for streams started on this route (``NOT_GIVEN``:
            the client's; a ``timeout`` of None in the route's config is
            ``NO_TIMEOUT``, no time limit at all); they also apply while its
            fallbacks serve.
    """

    name: str
    model: str
    params: Mapping[str, Any] = field(default_factory=dict)
    fallbacks: tuple[str, ...] = ()
    max_concurrent: int | None = None
    base_url: str | None = None
    api_key: Secret | None = field(default=None, repr=False)
    api: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: Timeout | NotGiven = NOT_GIVEN
    max_retries: int | NotGiven = NOT_GIVEN

    def _call_options(self, headers: Mapping[str, str]) -> CallOptions:
        """The options a call on this route is prepared with (``headers``
        over the route's own)."""
        return CallOptions(self.base_url, self.api_key, api=self.api,
                           headers=MappingProxyType({**self.headers, **headers}))


def _route(name: str, spec: Any) -> Route:
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"route names must be non-empty strings, got {name!r}")
    if not isinstance(spec, Mapping):
        raise ConfigurationError(f"route {name!r} must be a dict with a 'model', got {spec!r:.80}")
    model = spec.get("model")
    if not isinstance(model, str) or "/" not in model:
        raise ConfigurationError(
            f"route {name!r} needs 'model': 'provider/model' (e.g. 'openai/gpt-4o-mini'), "
            f"got {model!r}"
        )
    fallbacks = spec.get("fallbacks", ())
    if isinstance(fallbacks, str) or not isinstance(fallbacks, Sequence):
        raise ConfigurationError(f"route {name!r}: 'fallbacks' must be a list of route names")
    limit = spec.get("max_concurrent")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigurationError(
            f"route {name!r}: max_concurrent must be an int >= 1, got {limit!r}"
        )
    key = spec.get("api_key")
    params = {k: v for k, v in spec.items() if k not in _NOT_PARAMS}
    return Route(
        name=name,
        model=model,
        params=MappingProxyType(request_params(params)),
        fallbacks=tuple(fallbacks),
        max_concurrent=limit,
        base_url=spec.get("base_url"),
        api_key=key if isinstance(key, Secret) or key is None else Secret(str(key)),
        api=spec.get("api"),
        headers=MappingProxyType(dict(spec.get("headers") or {})),
        # Present means what it means on a call (None: no time limit), absent
        # means the client's.
        timeout=coerce_timeout(spec["timeout"]) if "timeout" in spec else NOT_GIVEN,
        max_retries=check_retries(spec["max_retries"]) if "max_retries" in spec else NOT_GIVEN,
    )


def configured_providers(env: Mapping[str, str] | None = None) -> list[str]:
    """The providers of ``DEFAULT_MODELS`` whose key (or ``OLLAMA_HOST``) is
    set in ``env`` (default ``os.environ``), in ``DEFAULT_MODELS`` order."""
    environ = os.environ if env is None else env
    found = []
    for prefix in DEFAULT_MODELS:
        info = PROVIDERS[prefix]
        names = (info.base_env,) if prefix == "ollama" else info.key_env
        if any(n and environ.get(n) for n in names):
            found.append(prefix)
    return found


class Router:
    """Named model configurations, with fallbacks and per-route limits.

    Args:
        routes: ``{name: {"model": "provider/model", ...}}``. Besides ``model``
            a route takes ``fallbacks`` (route names), ``max_concurrent``,
            ``base_url``, ``api_key``, ``api``, ``headers``, ``timeout``,
            ``max_retries``; every other key is a request field
            (``temperature``, ``max_tokens``, ``tools``...).
        client: the ``Client`` whose pool and defaults the streams use (a new
            one by default, closed by ``close()``).

    Fallbacks are followed transitively (a fallback's own fallbacks come
    after it), each route at most once per stream.

    Raises:
        ConfigurationError: a malformed route or a fallback naming no route.
    """

    def __init__(self, routes: Mapping[str, Mapping[str, Any]],
                 client: Client | None = None) -> None:
        if not isinstance(routes, Mapping) or not routes:
            raise ConfigurationError("a Router needs at least one route: {name: {'model': ...}}")
        parsed = {name: _route(name, spec) for name, spec in routes.items()}
        for r in parsed.values():
            for fb in r.fallbacks:
                if fb not in parsed:
                    raise ConfigurationError(
                        f"route {r.name!r} falls back to unknown route {fb!r}; "
                        f"routes: {', '.join(parsed)}"
                    )
        self._routes = MappingProxyType(parsed)
        self._gates = {
            name: threading.BoundedSemaphore(r.max_concurrent)
            for name, r in parsed.items() if r.max_concurrent is not None
        }
        self._owns_client = client is None
        self._client = client if client is not None else Client()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None,
                 client: Client | None = None) -> Router:
        """One route per provider configured in ``env`` (default ``os.environ``),
        named after the provider, with the model of ``DEFAULT_MODELS``.

        A provider counts as configured when its key variable is set (for
        Ollama: ``OLLAMA_HOST``); its base URL variable is used too.

        Raises:
            ConfigurationError: no provider is configured (naming the variables).
        """
        environ = os.environ if env is None else env
        routes: dict[str, dict[str, Any]] = {}
        for prefix in configured_providers(environ):
            info = PROVIDERS[prefix]
            spec: dict[str, Any] = {"model": DEFAULT_MODELS[prefix]}
            key = next((environ[n] for n in info.key_env if environ.get(n)), None)
            if key:
                spec["api_key"] = Secret(key)
            base = environ.get(info.base_env) if info.base_env else None
            if base:
                spec["base_url"] = normalize_ollama_host(base) if prefix == "ollama" else base
            routes[prefix] = spec
        if not routes:
            names = []
            for prefix in DEFAULT_MODELS:
                info = PROVIDERS[prefix]
                names.append(info.base_env if prefix == "ollama" else " or ".join(info.key_env))
            raise ConfigurationError(
                "no LLM provider is configured: set one of " + ", ".join(str(n) for n in names)
            )
        return cls(routes, client=client)

    @property
    def routes(self) -> Mapping[str, Route]:
        """The routes by name (read-only), in the order they were given."""
        return self._routes

    def __repr__(self) -> str:
        return f"<Router routes={list(self._routes)}>"

    # -- entry points ----------------------------------------------------------

    def chat(
        self,
        route: str,
        /,
        messages: Sequence[Mapping[str, Any]],
        *,
        stream_to: StreamTarget = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        headers: Mapping[str, str] | None = None,
        **fields: Unpack[RequestFields],
    ) -> StreamHandle:
        """Start streaming a chat answer on ``route``; returns its handle at once.

        ``fields`` are request fields (``temperature=0``...) that replace the
        route's own for this call; ``timeout`` and ``max_retries`` replace the
        route's (None: no time limit), ``headers`` go over the route's. They
        apply to the fallbacks too. ``stream_to`` is as for
        ``streamactors.chat``. ``model``, ``base_url``, ``api_key`` and ``api``
        belong to the route and cannot be given here. ``route`` is
        positional-only, so that OpenRouter's ``route=`` field can be given.

        Raises:
            ConfigurationError: unknown route (listing the routes) or bad input.
        """
        opts = CallOptions.build(None, None, timeout, max_retries, None, headers)
        plans, opts = self._plans(route, messages, opts, request_params(fields))
        return self._client._start_plans(plans, self._routes[route].model, opts, stream_to)

    def stream(
        self,
        route: str,
        /,
        messages: Sequence[Mapping[str, Any]],
        *,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        headers: Mapping[str, str] | None = None,
        **fields: Unpack[RequestFields],
    ) -> ChunkStream:
        """Iterate the chunks of ``route``'s answer (like ``streamactors.stream``)."""
        opts = CallOptions.build(None, None, timeout, max_retries, None, headers)
        plans, opts = self._plans(route, messages, opts, request_params(fields, "stream"))
        return self._client._iterate(plans, self._routes[route].model, opts)

    def astream(
        self,
        route: str,
        /,
        messages: Sequence[Mapping[str, Any]],
        *,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        headers: Mapping[str, str] | None = None,
        **fields: Unpack[RequestFields],
    ) -> AsyncChunkStream:
        """``async for`` over the chunks of ``route``'s answer (like ``streamactors.astream``)."""
        opts = CallOptions.build(None, None, timeout, max_retries, None, headers)
        # Built now, so that bad input raises at the call, not at the first await.
        plans, opts = self._plans(route, messages, opts, request_params(fields, "astream"))
        return self._client._aiterate(plans, self._routes[route].model, opts)

    def close(self) -> None:
        """Close the client's pool when the router made the client."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Router:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------

    def _chain(self, route: str) -> list[Route]:
        """``route`` then its fallbacks, depth first, each route once."""
        if route not in self._routes:
            raise ConfigurationError(
                f"unknown route {route!r}; routes: {', '.join(self._routes)}"
            )
        order: list[str] = []

        def visit(name: str) -> None:
            if name not in order:
                order.append(name)
                for fb in self._routes[name].fallbacks:
                    visit(fb)

        visit(route)
        return [self._routes[name] for name in order]

    def _plans(self, route: str, messages: object, opts: CallOptions,
               params: dict[str, Any]) -> tuple[list[Plan], CallOptions]:
        """The plans of ``route`` and its fallbacks, each built now (so a
        fallback that cannot serve the call fails it at once), and the
        stream's options: the call's timeout and retries, else the route's."""
        chain = self._chain(route)
        msgs = check_messages(messages)
        bad = [k for k in _ROUTE_ONLY if k in params]
        if bad:
            raise ConfigurationError(
                f"{', '.join(bad)} cannot be overridden per call; set it in the route's config"
            )
        plans = []
        for r in chain:
            request = RequestInput("chat", msgs, None, {**r.params, **params})
            provider, config, http = self._client._prepare(request, r.model,
                                                           r._call_options(opts.headers))
            plans.append(Plan(provider, config, request, http, route=r.name,
                              gate=self._gates.get(r.name)))
        primary = chain[0]
        return plans, CallOptions(
            timeout=primary.timeout if isinstance(opts.timeout, NotGiven) else opts.timeout,
            max_retries=(primary.max_retries if isinstance(opts.max_retries, NotGiven)
                         else opts.max_retries),
        )
