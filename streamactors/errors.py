"""The whole exception tree of streamactors.

Every failure of a stream reaches the user as one of these, either as the
``error`` of an ``Error`` message or raised from ``StreamHandle.wait()``,
``stream()`` and ``astream()``::

    StreamError
     +-- ConfigurationError        bad input before any request (also ValueError)
     +-- UsageError                a call that cannot work where it is made (also RuntimeError)
     +-- StreamCancelled           cancel(), a stopped target, a failed handler
     +-- StreamTimeout             (also TimeoutError)
     |    +-- ConnectTimeout
     |    +-- ReadTimeout          silence between bytes longer than ``read``
     |    +-- IdleTimeout          no content (text, reasoning, tool call...) for ``idle``
     |    +-- FirstTokenTimeout    no data before ``first_token``
     |    +-- DeadlineExceeded     the whole stream took longer than ``total``
     +-- StreamConnectionError     refused, reset, dropped (also ConnectionError)
     +-- ProtocolError             malformed SSE/NDJSON/JSON, oversized event, wrong body
     +-- IncompleteStream          EOF before any finish reason
     +-- OutputValidationError     a JSON answer invalid, cut or not the model (also ValueError)
     +-- ProviderError             an error reported inside a 200 stream
     +-- HTTPStatusError           a non-2xx response before the stream started
          +-- BadRequestError          400
          +-- AuthenticationError      401
          +-- PermissionDeniedError    403
          +-- NotFoundError            404
          +-- RequestTimeoutError      408
          +-- ConflictError            409
          +-- UnprocessableEntityError 422
          +-- RateLimitError           429
          +-- InternalServerError      5xx
               +-- ServiceUnavailableError 503
               +-- OverloadedError         529

Each error carries what a user needs to act on it: ``partial`` (the
``StreamResult`` accumulated before the failure, or None when nothing was
received), ``request_id``, ``retryable`` and ``retries`` (how many retries were
made before giving up); HTTP and provider errors also carry ``status_code``,
``provider_message``, ``type``, ``code``, ``retry_after`` and a bounded ``body``.
Messages never contain API keys: the worker scrubs every text it attaches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._result import StreamResult

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "ConnectTimeout",
    "DeadlineExceeded",
    "FirstTokenTimeout",
    "HTTPStatusError",
    "IdleTimeout",
    "IncompleteStream",
    "InternalServerError",
    "NotFoundError",
    "OutputValidationError",
    "OverloadedError",
    "PermissionDeniedError",
    "ProtocolError",
    "ProviderError",
    "RateLimitError",
    "ReadTimeout",
    "RequestTimeoutError",
    "ServiceUnavailableError",
    "StreamCancelled",
    "StreamConnectionError",
    "StreamError",
    "StreamTimeout",
    "UnprocessableEntityError",
    "UsageError",
    "error_for_status",
]

#: Bodies and payloads attached to errors are cut to this many characters.
MAX_ATTACHED_CHARS = 2000


def _truncate(text: str | None, limit: int = MAX_ATTACHED_CHARS) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + f"... [{len(text) - limit} more characters]"


class StreamError(Exception):
    """Base of every error streamactors reports.

    Attributes:
        message: a human-readable description (never contains a key).
        partial: what the stream had accumulated before it failed, or None.
        request_id: the provider's request id, when the response carried one.
        retries: how many times the request was retried before this error.
    """

    #: Whether retrying the same request could succeed.
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        partial: StreamResult | None = None,
        request_id: str | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.partial = partial
        self.request_id = request_id
        self.provider = provider
        self.retries = 0

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep errors picklable (for multiprocessing users) with their attributes.
        return (_rebuild, (type(self), self.__dict__))


def _rebuild(cls: type[StreamError], state: dict[str, Any]) -> StreamError:
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message", ""))
    err.__dict__.update(state)
    return err


class ConfigurationError(StreamError, ValueError):
    """The call cannot be made as asked: unknown provider, missing key or base
    URL, a parameter the provider cannot take. Raised before any request."""


class UsageError(StreamError, RuntimeError):
    """A call that cannot work where it is made, raised at once instead of
    deadlocking: waiting for a stream from inside its own delivery (its
    callable target, a bounded actor's handler), iterating a ``stream()``
    twice."""


class StreamCancelled(StreamError):
    """The stream was cancelled: ``handle.cancel()``, its target stopped, a
    handler failed under the default supervision policy, or interpreter exit.

    Attributes:
        reason: why, in a few words.
    """

    def __init__(self, message: str = "stream cancelled", *, reason: str = "cancelled",
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reason = reason


class StreamTimeout(StreamError, TimeoutError):
    """A time limit of ``streamactors.Timeout`` was reached."""

    retryable = True
    #: Which limit: "connect", "read", "idle", "first_token" or "total".
    phase: str = ""


class ConnectTimeout(StreamTimeout):
    """The TCP/TLS connection was not established within ``connect`` seconds."""

    phase = "connect"


class ReadTimeout(StreamTimeout):
    """The server sent nothing for longer than ``read`` seconds."""

    phase = "read"


class IdleTimeout(StreamTimeout):
    """No content arrived for ``idle`` seconds: heartbeats, comments and a
    trickle of bytes do not count, only text, reasoning, tool calls, a
    refusal or the finish reason. The stream ends; it is not retried."""

    phase = "idle"


class FirstTokenTimeout(StreamTimeout):
    """No data arrived within ``first_token`` seconds of the request."""

    phase = "first_token"


class DeadlineExceeded(StreamTimeout):
    """The whole stream took longer than ``total`` seconds."""

    phase = "total"
    retryable = False


class StreamConnectionError(StreamError, ConnectionError):
    """The connection could not be made, or broke while the stream was read."""

    retryable = True


class ProtocolError(StreamError):
    """The bytes were not what the format promises: malformed JSON in an
    event, an event larger than ``max_event_bytes``, an HTML page instead of a
    stream.

    Attributes:
        payload: the offending data, truncated.
    """

    def __init__(self, message: str, *, payload: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.payload = _truncate(payload)


class IncompleteStream(StreamError):
    """The body ended before any finish reason arrived: the answer is cut."""

    retryable = True


class OutputValidationError(StreamError, ValueError):
    """The answer asked for as JSON is not what was asked for: not valid JSON,
    cut before its end (finish reason ``length``), or valid JSON that does not
    match the ``response_format`` model.

    Attributes:
        offset: for text that is not JSON, the index of its first character
            that made it invalid (its length when it ended too soon); else None.
        value: the last partial value read from the answer (its JSON as far
            as it was valid), so nothing is lost.
        errors: for a model mismatch, Pydantic's list of errors; else None.
        partial: as for every stream error, the ``StreamResult``: the full
            text and the finish reason.
    """

    def __init__(self, message: str, *, offset: int | None = None, value: Any = None,
                 errors: list[dict[str, Any]] | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.offset = offset
        self.value = value
        self.errors = errors


class _ProviderDetails(StreamError):
    """Shared fields of the errors a provider reports itself."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        provider_message: str | None = None,
        type: str | None = None,
        code: str | int | None = None,
        retry_after: float | None = None,
        body: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.status_code = status_code
        self.provider_message = provider_message
        self.type = type
        self.code = code
        self.retry_after = retry_after
        self.body = _truncate(body)


class ProviderError(_ProviderDetails):
    """An error the provider reported inside a stream that had started with
    HTTP 200 (OpenAI ``error`` object, Anthropic ``event: error``, Responses
    ``response.failed``, OpenRouter error chunk, Ollama ``{"error": ...}``)."""


class HTTPStatusError(_ProviderDetails):
    """The server answered with a non-2xx status before streaming."""

    status_code: int


class BadRequestError(HTTPStatusError):
    """400: the request was rejected as invalid."""


class AuthenticationError(HTTPStatusError):
    """401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(HTTPStatusError):
    """403: the key may not use this model or endpoint."""


class NotFoundError(HTTPStatusError):
    """404: unknown model or endpoint."""


class RequestTimeoutError(HTTPStatusError):
    """408: the server timed the request out."""

    retryable = True


class ConflictError(HTTPStatusError):
    """409: a conflicting request (retried by default)."""

    retryable = True


class UnprocessableEntityError(HTTPStatusError):
    """422: the body was well-formed but unacceptable."""


class RateLimitError(HTTPStatusError):
    """429: too many requests or tokens; see ``retry_after``."""

    retryable = True


class InternalServerError(HTTPStatusError):
    """5xx: the provider failed."""

    retryable = True


class ServiceUnavailableError(InternalServerError):
    """503: the service is temporarily unavailable."""


class OverloadedError(InternalServerError):
    """529 (Anthropic ``overloaded_error``): the provider is overloaded."""


_BY_STATUS: dict[int, type[HTTPStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    503: ServiceUnavailableError,
    529: OverloadedError,
}


def error_for_status(status_code: int) -> type[HTTPStatusError]:
    """The ``HTTPStatusError`` subclass for an HTTP status code."""
    cls = _BY_STATUS.get(status_code)
    if cls is not None:
        return cls
    if status_code >= 500:
        return InternalServerError
    return HTTPStatusError
