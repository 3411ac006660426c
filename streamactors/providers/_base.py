"""The shape every provider codec has: data in, data out, no I/O.

A provider turns normalized parameters into an ``HTTPRequest``, decodes the
events of one stream into ``Chunk`` objects with a per-stream ``StreamDecoder``,
and turns an HTTP error response into a typed ``HTTPStatusError``. Nothing here
imports ``requests``, ``threading`` or ``queue``, so a recorded stream can be
replayed through a codec in a unit test.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypedDict

from .._chunk import Chunk
from .._output import OutputSpec, output_spec
from .._tools import ToolSpec, tool_specs
from ..errors import ConfigurationError, HTTPStatusError, error_for_status
from ._events import (
    event_object,
    expect_list,
    expect_object,
    expect_str,
    loads_event,
    wrong_shape,
)
from ._fields import FieldTable

__all__ = [
    "Continuation",
    "Framing",
    "HTTPRequest",
    "Provider",
    "ProviderConfig",
    "RequestInput",
    "Secret",
    "StreamDecoder",
    "event_object",
    "expect_list",
    "expect_object",
    "expect_str",
    "header",
    "loads_event",
    "parse_retry_after",
    "wrong_shape",
]

Framing = Literal["sse", "ndjson"]
Kind = Literal["chat", "completion"]


class _WireValue(str):
    """A secret header value on its way to the socket: a ``str`` (requests
    and http.client take nothing else) whose repr is masked, so a dict of
    headers in a frame's locals shows ``'***'`` in a traceback printed with
    its locals."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


class Secret:
    """An API key that never shows itself in a repr, str, log or pickle."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The key itself; call only where it goes on the wire."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("a Secret cannot be pickled")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class ProviderConfig:
    """Where and as whom to call a provider, resolved from arguments and env.

    Attributes:
        provider: the model prefix (``openai``, ``anthropic``, ``mistral``...).
        model: the model name without the prefix.
        base_url: the API root (for OpenAI-style APIs it ends in ``/v1``).
        api_key: the key, or None when the provider needs none.
        headers: extra headers for every request (never secret).
    """

    provider: str
    model: str
    base_url: str
    api_key: Secret | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestInput:
    """What the user asked for, before any provider-specific translation.

    Attributes:
        kind: ``chat`` (messages) or ``completion`` (a single prompt).
        messages: OpenAI-form messages for ``chat``.
        prompt: the prompt for ``completion``.
        params: the request's own fields (temperature, max_tokens, tools...).
    """

    kind: Kind = "chat"
    messages: Sequence[Mapping[str, Any]] = ()
    prompt: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    #: The JSON answer asked for by a ``response_format`` given as a model
    #: class or a schema (set from ``params``, which then hold its OpenAI
    #: wire form for the codecs); None otherwise.
    output: OutputSpec | None = field(default=None, init=False, compare=False)
    #: The tools given as Pydantic models or functions, by name (``params``
    #: then hold them as OpenAI function tools).
    tool_specs: Mapping[str, ToolSpec] = field(default_factory=dict, init=False,
                                               compare=False)

    def __post_init__(self) -> None:
        fmt = self.params.get("response_format")
        spec = None if fmt is None else output_spec(fmt)
        if spec is not None:
            object.__setattr__(self, "params",
                               {**self.params, "response_format": spec.wire_format()})
            object.__setattr__(self, "output", spec)
        tools = self.params.get("tools")
        if tools is not None:
            wire, specs = tool_specs(tools)
            if specs:
                object.__setattr__(self, "params", {**self.params, "tools": wire})
                object.__setattr__(self, "tool_specs", specs)


_SENSITIVE = frozenset({"authorization", "x-api-key", "x-goog-api-key", "api-key"})


@dataclass(frozen=True)
class HTTPRequest:
    """One HTTP request, as data. Secret headers are kept apart and masked.

    Attributes:
        method: the HTTP method.
        url: the full URL (never carries a key).
        body: the JSON body.
        headers: headers that may be shown.
        secret_headers: headers carrying credentials, sent only to ``url``'s host.
        framing: how the response body is framed.
    """

    method: str
    url: str
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    secret_headers: Mapping[str, Secret] = field(default_factory=dict)
    framing: Framing = "sse"

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.headers.items() if k.lower() not in _SENSITIVE}
        secret = {k: "***" for k in self.secret_headers}
        return (
            f"HTTPRequest(method={self.method!r}, url={self.url!r}, "
            f"headers={ {**shown, **secret}!r}, framing={self.framing!r})"
        )

    def wire_headers(self) -> dict[str, str]:
        """All headers, secrets revealed (with a masked repr): for the
        transport only."""
        out = dict(self.headers)
        for k, v in self.secret_headers.items():
            out[k] = _WireValue(v.reveal())
        return out


class Continuation(TypedDict, total=False):
    """What a provider needs back, beside text and tool calls, to continue a
    conversation after this answer (Anthropic thinking blocks with their
    signatures, Gemini thought signatures). ``StreamResult.to_message()``
    merges it into the assistant message it builds.

    Attributes:
        message: keys added to the assistant message.
        tool_calls: tool-call id -> keys added to that tool call's entry.
    """

    message: dict[str, Any]
    tool_calls: dict[str, dict[str, Any]]


class StreamDecoder(Protocol):
    """Per-stream decoding state of one provider.

    ``feed`` gets one event's data (an SSE event's ``data`` with its ``event``
    name, or one NDJSON line with event ``"message"``) and returns the chunks
    it yields (often one, sometimes none) as a new list, which the caller
    keeps (it becomes the batch delivered to the target). It raises
    ``ProviderError`` for an error reported in the stream and
    ``ProtocolError`` for malformed data, also for JSON of the wrong shape
    (never ``AttributeError``/``TypeError``).

    ``done`` turns True once the provider's end marker arrived (``[DONE]``,
    ``message_stop``, ``response.completed``, Ollama's ``done``): the worker
    then stops reading, whether or not the server closes the body.
    """

    @property
    def done(self) -> bool: ...

    def feed(self, data: str, event: str = "message") -> list[Chunk]: ...

    def continuation(self) -> Continuation:
        """What the provider needs back to continue after this answer ({} if nothing)."""
        ...


class Provider(Protocol):
    """A provider's codec: request building, stream decoding, error mapping."""

    #: The model prefix this codec serves (``openai``, ``anthropic``...).
    name: str
    framing: Framing
    #: Every request field this codec takes, and what it does with it.
    fields: FieldTable

    def build_request(self, config: ProviderConfig, request: RequestInput) -> HTTPRequest:
        """The HTTP request for ``request``; ``ConfigurationError`` if impossible."""
        ...

    def new_decoder(self, request: RequestInput) -> StreamDecoder:
        """Fresh decoding state for one stream of ``request``."""
        ...

    def error_from_response(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> HTTPStatusError:
        """The typed error for a non-2xx response (``headers`` keys lower-case)."""
        ...


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header value by case-insensitive name."""
    v = headers.get(name)
    if v is not None:
        return v
    lname = name.lower()
    for k, val in headers.items():
        if k.lower() == lname:
            return val
    return None


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` (seconds or
    an HTTP date); None when absent or unreadable."""
    ms = header(headers, "retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
            if value >= 0:
                return value
        except ValueError:
            pass
    ra = header(headers, "retry-after")
    if ra is None:
        return None
    try:
        value = float(ra)
        return value if value >= 0 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(ra)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def decode_error_body(body: bytes) -> Any:
    """The JSON value of an error body, or None when it is not JSON."""
    try:
        return json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return None


def build_status_error(
    status_code: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    provider: str,
    provider_message: str | None,
    type: str | None = None,
    code: str | int | None = None,
    request_id_header: str = "x-request-id",
    request_id: str | None = None,
    error_class: type[HTTPStatusError] | None = None,
) -> HTTPStatusError:
    """An ``HTTPStatusError`` of the class matching ``status_code`` (or
    ``error_class`` when the body says more than the status does)."""
    cls = error_class or error_for_status(status_code)
    text = body.decode("utf-8", "replace")
    shown = provider_message or (text.strip()[:200] if text.strip() else "no body")
    err = cls(
        f"{provider} returned HTTP {status_code}: {shown}",
        status_code=status_code,
        provider_message=provider_message,
        type=type,
        code=code,
        retry_after=parse_retry_after(headers),
        body=text,
        request_id=request_id or header(headers, request_id_header),
        provider=provider,
    )
    should = header(headers, "x-should-retry")
    if should in ("true", "false"):
        err.retryable = should == "true"
    return err


def reject_params(provider: str, params: Mapping[str, Any], unsupported: Sequence[str]) -> None:
    """``ConfigurationError`` naming every parameter ``provider`` cannot take."""
    bad = sorted(k for k in params if k in unsupported)
    if bad:
        raise ConfigurationError(
            f"{provider} does not support the parameter(s) {', '.join(bad)}; "
            "remove them or use a provider that does"
        )
