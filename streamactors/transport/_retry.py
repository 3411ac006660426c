"""When a failed attempt is retried, and after how long: ``RetryPolicy``.

Retries happen only before the first chunk was delivered (the worker checks
that), for errors that say a retry could succeed, with exponential backoff and
jitter, or after the server's ``Retry-After`` when it asks for one. A
``Retry-After`` longer than ``max_retry_after`` is not retried early: the
error (with its ``retry_after``) reaches the caller at once.

The module functions ``should_retry`` and ``backoff`` are the default
policy's methods, for callers written before the policy existed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from ..errors import ConfigurationError, ProviderError, StreamError

__all__ = ["DEFAULT_RETRY_POLICY", "MAX_RETRY_AFTER", "RetryPolicy", "backoff", "should_retry"]

#: The longest ``Retry-After`` the worker waits for itself, in seconds.
MAX_RETRY_AFTER = 60.0

_RETRYABLE_PROVIDER_TYPES = frozenset(
    {"overloaded_error", "api_error", "server_error", "internal_error", "rate_limit_error",
     "timeout_error", "service_unavailable"}
)


def _check(name: str, value: object, want: str, *, integer: bool = False,
           at_most: float = math.inf) -> None:
    """A ``ConfigurationError`` naming the field unless ``value`` fits it."""
    if integer:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    else:
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and 0 <= value <= at_most and math.isfinite(value))
    if not ok:
        raise ConfigurationError(f"RetryPolicy {name} must be {want}, got {value!r}")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and after how long a failed attempt is retried.

    Attributes:
        max_retries: retries after the first attempt, at most.
        base: the delay before the first retry, in seconds; it doubles with
            every retry after it.
        cap: the longest delay between two attempts (before jitter).
        jitter: the fraction of each delay drawn at random (0: exactly
            ``base * 2**attempt``; 0.25: between 75 % and 100 % of it), so
            that many clients failing at once do not all retry at once.
        max_retry_after: the longest ``Retry-After`` honoured; a server that
            asks for more gets the error to the caller at once.
    """

    max_retries: int = 2
    base: float = 0.5
    cap: float = 8.0
    jitter: float = 0.25
    max_retry_after: float = MAX_RETRY_AFTER

    def __post_init__(self) -> None:
        seconds = "a finite number of seconds >= 0"
        _check("max_retries", self.max_retries, "a whole number >= 0", integer=True)
        _check("base", self.base, seconds)
        _check("cap", self.cap, seconds)
        _check("jitter", self.jitter, "a number from 0 to 1", at_most=1.0)
        _check("max_retry_after", self.max_retry_after, seconds)

    def should_retry(self, exc: StreamError) -> bool:
        """Whether ``exc`` may be retried (the worker also needs no chunk
        delivered, no cancel and retries left)."""
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None and retry_after > self.max_retry_after:
            return False  # the server asked for more patience than we have
        if isinstance(exc, ProviderError):
            return (exc.type in _RETRYABLE_PROVIDER_TYPES) or (
                exc.code in _RETRYABLE_PROVIDER_TYPES)
        return bool(exc.retryable)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry ``attempt + 1`` (attempt 0 failed
        first): the server's ``Retry-After`` when it gave a usable one, else
        exponential backoff with jitter."""
        if retry_after is not None and 0 <= retry_after <= self.max_retry_after:
            return float(retry_after)
        # min() first: 2.0**attempt overflows a float past attempt 1023.
        delay: float = min(self.cap, self.base * (2.0 ** min(attempt, 64)))
        return delay * (1.0 - self.jitter * random.random())


#: The policy of a ``Client`` that was given none.
DEFAULT_RETRY_POLICY = RetryPolicy()


def should_retry(exc: StreamError) -> bool:
    """``DEFAULT_RETRY_POLICY.should_retry``."""
    return DEFAULT_RETRY_POLICY.should_retry(exc)


def backoff(attempt: int, retry_after: float | None) -> float:
    """``DEFAULT_RETRY_POLICY.delay``: seconds to wait before retry
    ``attempt + 1``."""
    return DEFAULT_RETRY_POLICY.delay(attempt, retry_after)
