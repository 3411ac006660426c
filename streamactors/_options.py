"""What one call says besides its request fields: where it goes, as whom, how
long it may take, how often it is retried, and who receives its messages.

Each entry point checks these once, at the call, into a frozen
``CallOptions`` that is passed down as one value. ``NOT_GIVEN`` marks what
the call left out, for the option where ``None`` means something of its own:
``timeout=None`` is "no time limit at all", while leaving ``timeout`` out is
"the client's default". For the others ``None`` has no meaning of its own and
is the same as leaving them out (``base_url``, ``api_key``, ``api`` and
``headers``: the route's or client's, then the environment), or is refused
(``max_retries``: an int, or left out).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Concatenate, Final, Literal, ParamSpec, Protocol, TypeVar, final

from .actors._client import StreamingClient, mailbox_of
from .actors._sinks import CallableSink, Channel, PutSink, Sink
from .actors._stream import Message
from .errors import ConfigurationError
from .providers import Secret
from .transport._timeouts import DEFAULT_TIMEOUT, Timeout

__all__ = ["NOT_GIVEN", "NO_TIMEOUT", "CallOptions", "NotGiven", "StreamTarget",
           "SupportsPut", "check_messages", "check_retries", "coerce_timeout", "make_sink",
           "on_default", "request_params", "secret"]

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C")


@final
class NotGiven:
    """The type of ``NOT_GIVEN``: an argument that was left out, told apart
    from ``None`` where ``None`` means something (``timeout=None``: no time
    limit). Falsy, printed as ``NOT_GIVEN``, and there is only one: copies,
    pickles and ``NotGiven()`` are ``NOT_GIVEN`` itself, so ``is`` and
    ``isinstance`` both work."""

    __slots__ = ()

    def __new__(cls) -> NotGiven:
        return NOT_GIVEN

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __reduce__(self) -> str:
        return "NOT_GIVEN"  # unpickles as this module's NOT_GIVEN, the one instance


#: An argument left out: the client's (or route's) default applies.
NOT_GIVEN: Final[NotGiven] = object.__new__(NotGiven)

#: What ``timeout=None`` means: no limit of any kind (connect, read, idle).
NO_TIMEOUT: Final[Timeout] = Timeout(connect=None, read=None, idle=None)

_NO_HEADERS: Final[Mapping[str, str]] = MappingProxyType({})


class SupportsPut(Protocol):
    """A target with ``put(message)``: ``queue.Queue``, ``queue.SimpleQueue``,
    a janus queue's ``sync_q``... One with a ``maxsize`` above 0 is bounded:
    it is then called as ``put(message, timeout=...)`` and a full one makes
    the stream wait (backpressure)."""

    def put(self, item: Message, /) -> object: ...


#: Where a stream's messages go: a started ``StreamingClient``, anything with
#: ``put`` (a queue), a callable run with each message on the worker thread,
#: or None (iterate the handle).
StreamTarget = StreamingClient | SupportsPut | Callable[[Message], object] | None


@dataclass(frozen=True, slots=True)
class CallOptions:
    """The options of one call, checked once (see ``build``) and passed down
    whole. ``NOT_GIVEN`` fields take the client's (or route's) default.

    Attributes:
        base_url: for the model's provider (None: the client's, then the
            environment's).
        api_key: a ``Secret`` (None: the client's, then the environment's).
        timeout: a ``Timeout`` (``NO_TIMEOUT`` when the call said None).
        max_retries: retries before the first chunk.
        api: ``"responses"`` for the OpenAI Responses API.
        headers: extra request headers, over the client's.
    """

    base_url: str | None = None
    api_key: Secret | None = field(default=None, repr=False)
    timeout: Timeout | NotGiven = NOT_GIVEN
    max_retries: int | NotGiven = NOT_GIVEN
    api: str | None = None
    # Not shown either: a header may carry a key (Authorization).
    headers: Mapping[str, str] = field(default_factory=lambda: _NO_HEADERS, repr=False)

    @classmethod
    def build(cls, base_url: str | None, api_key: Secret | None,
              timeout: Timeout | float | NotGiven | None, max_retries: int | NotGiven,
              api: str | None, headers: Mapping[str, str] | None) -> CallOptions:
        """Check a call's options (``ConfigurationError`` naming the bad one)."""
        if base_url is not None and not isinstance(base_url, str):
            raise ConfigurationError(
                f"base_url must be a str such as 'https://api.openai.com/v1', got {base_url!r:.80}")
        if headers is not None and not isinstance(headers, Mapping):
            raise ConfigurationError(
                f"headers must be a dict of header names to values, got {headers!r:.80}")
        return cls(
            base_url,
            api_key,
            timeout if isinstance(timeout, NotGiven) else coerce_timeout(timeout),
            max_retries if isinstance(max_retries, NotGiven) else check_retries(max_retries),
            api,
            MappingProxyType(dict(headers)) if headers else _NO_HEADERS,
        )


def coerce_timeout(value: Timeout | float | None) -> Timeout:
    """A ``Timeout`` from a number (connect and read seconds), a ``Timeout``,
    or None: no time limit at all."""
    if value is None:
        return NO_TIMEOUT
    if isinstance(value, Timeout):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(
            f"timeout must be a number of seconds, a Timeout, or None (no time limit), "
            f"got {value!r:.80}; leave it out for the default {DEFAULT_TIMEOUT!r}")
    return Timeout(value)


def check_retries(value: object) -> int:
    """``value`` if it is an int >= 0 (``ConfigurationError`` otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        hint = "; leave it out for the default" if value is None else ""
        raise ConfigurationError(
            f"max_retries must be an int >= 0 (0: no retries), got {value!r:.80}{hint}")
    return value


def secret(api_key: object) -> Secret | None:
    """A key as a ``Secret`` (None for none), the moment it enters the library."""
    if api_key is None or isinstance(api_key, Secret):
        return api_key
    if not isinstance(api_key, str):
        raise ConfigurationError(f"api_key must be a str, got {type(api_key).__name__}")
    return Secret(api_key) if api_key else None


def check_messages(messages: object) -> tuple[Mapping[str, Any], ...]:
    """``messages`` as a tuple, refusing anything that is not a non-empty list
    of dicts with a ``role`` (a bare string is the usual mistake)."""
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


def request_params(fields: Mapping[str, object], entry: str | None = None) -> dict[str, Any]:
    """The request fields of a call, as a new dict, without ``stream``.

    ``entry`` names an entry point that delivers to its own iterator
    (``stream``, ``astream``): a ``stream_to`` there is refused rather than
    taken for a request field.
    """
    params = dict(fields)
    if entry is not None and "stream_to" in params:
        raise ConfigurationError(f"{entry}() delivers to its iterator; drop stream_to")
    if params.pop("stream", True) is not True:
        raise ConfigurationError("streamactors always streams: drop stream=False")
    return params


def make_sink(stream_to: object) -> tuple[Sink, Channel | None]:
    """The sink for ``stream_to``, and the handle's own channel when the
    handle itself is to be iterated (``stream_to=None``)."""
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


def on_default(default: Callable[[], C], method: Callable[Concatenate[C, P], R]) -> Callable[P, R]:
    """``method`` as a module-level function called on ``default()`` (the
    default client): the same signature, so that a type checker sees every
    keyword of ``Client.chat`` on ``streamactors.chat``, and the same docs,
    never out of step."""

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        if "api_key" in kwargs:  # a Secret from here down: no frame shows the key
            kwargs["api_key"] = secret(kwargs["api_key"])
        return method(default(), *args, **kwargs)

    signature = inspect.signature(method)
    call.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=list(signature.parameters.values())[1:])  # without self
    call.__qualname__ = method.__name__
    call.__doc__ = f"``Client.{method.__name__}`` on the default client.\n\n{method.__doc__}"
    return call
