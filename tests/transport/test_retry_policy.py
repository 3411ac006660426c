"""RetryPolicy: what is retried, after how long; the module functions are the
default policy's."""

from __future__ import annotations

from unittest import mock

import pytest

from streamactors.errors import (
    BadRequestError,
    ConfigurationError,
    ProviderError,
    RateLimitError,
    StreamConnectionError,
)
from streamactors.transport import _retry
from streamactors.transport._retry import DEFAULT_RETRY_POLICY, RetryPolicy


def test_delay_doubles_from_base_up_to_the_cap() -> None:
    policy = RetryPolicy(base=0.1, cap=1.0, jitter=0.0)
    assert [policy.delay(a, None) for a in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert policy.delay(5000, None) == 1.0  # no float overflow


def test_jitter_draws_the_given_fraction() -> None:
    policy = RetryPolicy(base=1.0, jitter=0.5)
    with mock.patch("random.random", return_value=0.0):
        assert policy.delay(0, None) == 1.0
    with mock.patch("random.random", return_value=1.0):
        assert policy.delay(0, None) == 0.5


def test_retry_after_is_honoured_up_to_its_limit() -> None:
    policy = RetryPolicy(max_retry_after=5.0, jitter=0.0)
    assert policy.delay(3, 2.5) == 2.5
    assert policy.delay(0, 6.0) == 0.5  # past the limit: the exponential delay
    assert policy.delay(0, -1.0) == 0.5
    late = RateLimitError("slow down", status_code=429)
    late.retry_after = 6.0
    assert not policy.should_retry(late)
    late.retry_after = 4.0
    assert policy.should_retry(late)


def test_what_is_retried() -> None:
    policy = RetryPolicy()
    assert policy.should_retry(StreamConnectionError("reset"))
    assert not policy.should_retry(BadRequestError("bad", status_code=400))
    assert policy.should_retry(ProviderError("busy", type="overloaded_error"))
    assert not policy.should_retry(ProviderError("no", type="invalid_request_error"))


def test_the_module_functions_are_the_default_policy() -> None:
    assert DEFAULT_RETRY_POLICY == RetryPolicy()
    assert DEFAULT_RETRY_POLICY.max_retries == 2
    with mock.patch("random.random", return_value=0.0):
        assert _retry.backoff(2, None) == DEFAULT_RETRY_POLICY.delay(2, None) == 2.0
    assert _retry.should_retry(StreamConnectionError("x"))


@pytest.mark.parametrize(("field", "value"), [
    ("max_retries", -1), ("max_retries", 1.5), ("max_retries", True), ("base", -0.1),
    ("cap", float("inf")), ("jitter", 1.5), ("jitter", "0.2"), ("max_retry_after", float("nan")),
])
def test_a_bad_field_is_named(field: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=f"RetryPolicy {field} must be"):
        RetryPolicy(**{field: value})  # type: ignore[arg-type]
