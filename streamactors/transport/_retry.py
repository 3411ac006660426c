"""When a failed attempt is retried, and after how long.

Retries happen only before the first chunk was delivered (the worker checks
that), for errors that say a retry could succeed, with exponential backoff and
jitter, or after the server's ``Retry-After`` when it asks for one. A
``Retry-After`` longer than ``MAX_RETRY_AFTER`` is not retried early: the
error (with its ``retry_after``) reaches the caller at once.
"""

from __future__ import annotations

import random

from ..errors import ProviderError, StreamError

__all__ = ["MAX_RETRY_AFTER", "backoff", "should_retry"]

#: The longest ``Retry-After`` the worker waits for itself, in seconds.
MAX_RETRY_AFTER = 60.0

_RETRYABLE_PROVIDER_TYPES = frozenset(
    {"overloaded_error", "api_error", "server_error", "internal_error", "rate_limit_error",
     "timeout_error", "service_unavailable"}
)


def should_retry(exc: StreamError) -> bool:
    """Whether ``exc`` may be retried (the worker also needs no chunk
    delivered, no cancel and retries left)."""
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None and retry_after > MAX_RETRY_AFTER:
        return False  # the server asked for more patience than we have
    if isinstance(exc, ProviderError):
        return (exc.type in _RETRYABLE_PROVIDER_TYPES) or (exc.code in _RETRYABLE_PROVIDER_TYPES)
    return bool(exc.retryable)


def backoff(attempt: int, retry_after: float | None) -> float:
    """Seconds to wait before retry ``attempt + 1``."""
    if retry_after is not None and 0 <= retry_after <= MAX_RETRY_AFTER:
        return float(retry_after)
    base: float = min(8.0, 0.5 * (2.0**attempt))
    return base * (0.75 + random.random() * 0.25)
