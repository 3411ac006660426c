"""A call's options: ``NOT_GIVEN`` against ``None``, one ``CallOptions`` per
call, the module-level functions as the client's methods, over real loopback
sockets where the behaviour is a stream's."""

from __future__ import annotations

import copy
import inspect
import pickle
import traceback
from collections.abc import Callable

import pytest

import streamactors as sa
from streamactors._options import NO_TIMEOUT, CallOptions, check_retries, coerce_timeout
from streamactors.providers import Secret
from streamactors.testing import Fault, LoopbackServer, Script

MSGS = [{"role": "user", "content": "Hi"}]
KEY = "sk-options-4f1c9a7e2b"


# -- NOT_GIVEN ------------------------------------------------------------------


def test_not_given_is_one_falsy_instance_with_a_plain_repr() -> None:
    assert repr(sa.NOT_GIVEN) == "NOT_GIVEN" and str(sa.NOT_GIVEN) == "NOT_GIVEN"
    assert not sa.NOT_GIVEN and bool(sa.NOT_GIVEN) is False
    assert sa.NotGiven() is sa.NOT_GIVEN
    assert copy.copy(sa.NOT_GIVEN) is sa.NOT_GIVEN
    assert copy.deepcopy(sa.NOT_GIVEN) is sa.NOT_GIVEN
    assert pickle.loads(pickle.dumps(sa.NOT_GIVEN)) is sa.NOT_GIVEN
    assert isinstance(sa.NOT_GIVEN, sa.NotGiven) and sa.NOT_GIVEN is not None


# -- CallOptions ----------------------------------------------------------------


def test_call_options_are_checked_once_and_frozen() -> None:
    opts = CallOptions.build("http://h/v1", Secret(KEY), 5, 1, "responses",
                             {"Authorization": f"Bearer {KEY}"})
    assert opts.timeout == sa.Timeout(5) and opts.max_retries == 1
    assert opts.api == "responses" and opts.headers["Authorization"].endswith(KEY)
    assert KEY not in repr(opts)  # neither the key nor a header that may carry one
    with pytest.raises(AttributeError):
        opts.timeout = NO_TIMEOUT  # type: ignore[misc]
    left_out = CallOptions.build(None, None, sa.NOT_GIVEN, sa.NOT_GIVEN, None, None)
    assert left_out.timeout is sa.NOT_GIVEN and left_out.max_retries is sa.NOT_GIVEN
    assert dict(left_out.headers) == {}


@pytest.mark.parametrize(("args", "match"), [
    ((42, None, sa.NOT_GIVEN, sa.NOT_GIVEN, None, None), "base_url must be a str"),
    ((None, None, "soon", sa.NOT_GIVEN, None, None), "timeout must be a number"),
    ((None, None, True, sa.NOT_GIVEN, None, None), "timeout must be a number"),
    ((None, None, sa.NOT_GIVEN, None, None, None), "max_retries .* got None; leave it out"),
    ((None, None, sa.NOT_GIVEN, -1, None, None), "max_retries must be an int >= 0"),
    ((None, None, sa.NOT_GIVEN, sa.NOT_GIVEN, None, ["x"]), "headers must be a dict"),
])
def test_bad_options_name_the_option(args: tuple[object, ...], match: str) -> None:
    with pytest.raises(sa.ConfigurationError, match=match):
        CallOptions.build(*args)  # type: ignore[arg-type]


def test_none_timeout_is_no_limit_at_all() -> None:
    assert coerce_timeout(None) is NO_TIMEOUT
    assert (NO_TIMEOUT.connect, NO_TIMEOUT.read, NO_TIMEOUT.idle, NO_TIMEOUT.total,
            NO_TIMEOUT.first_token) == (None, None, None, None, None)
    assert coerce_timeout(2.5) == sa.Timeout(2.5)
    limits = sa.Timeout(idle=3)
    assert coerce_timeout(limits) is limits
    assert check_retries(0) == 0


def test_client_timeout_none_means_no_limit_and_left_out_the_default() -> None:
    with sa.Client(timeout=None) as client:
        assert repr(NO_TIMEOUT) in repr(client)
    with sa.Client() as client:
        assert repr(sa.Timeout()) in repr(client)
    with pytest.raises(sa.ConfigurationError, match="max_retries"):
        sa.Client(max_retries=None)  # type: ignore[arg-type]


# -- the options reach the stream -------------------------------------------------


@pytest.mark.timeout(20)
def test_call_timeout_none_overrides_the_clients_limit(loopback_server: LoopbackServer) -> None:
    stalls = Script(text="one two three", fault=Fault("stall", after=1, seconds=0.6))
    with sa.Client(base_url=loopback_server.url("openai"), api_key="k", env={}, timeout=0.2,
                   max_retries=0) as client:
        loopback_server.push(stalls)
        with pytest.raises(sa.ReadTimeout):  # left out: the client's 0.2 s
            client.chat("openai/m", MSGS).wait(10)
        loopback_server.push(stalls)
        result = client.chat("openai/m", MSGS, timeout=None).wait(10)  # no limit at all
    assert result.text == "one two three" and result.finish_reason == "stop"


@pytest.mark.timeout(20)
def test_max_retries_left_out_is_the_clients(loopback_server: LoopbackServer) -> None:
    busy = Script(fault=Fault("http_error", status=503, retry_after=0))
    with sa.Client(base_url=loopback_server.url("openai"), api_key="k", env={},
                   max_retries=1) as client:
        loopback_server.push(busy)
        assert client.chat("openai/m", MSGS).wait(10).text == Script().text
        assert len(loopback_server.requests) == 2  # the client's one retry
        loopback_server.push(busy)
        chunks = client.stream("openai/m", MSGS, max_retries=0)
        with pytest.raises(sa.ServiceUnavailableError):
            list(chunks)
        assert len(loopback_server.requests) == 3


@pytest.mark.timeout(20)
def test_call_options_reach_the_request(loopback_server: LoopbackServer) -> None:
    with sa.Client(api_key="sk-client", env={}, headers={"x-a": "client", "x-b": "client"}) as c:
        c.chat("openai/m", MSGS, base_url=loopback_server.url("openai"), api_key="sk-call",
               headers={"x-b": "call"}).wait(10)
    request = loopback_server.requests[-1]
    assert request.headers["authorization"] == "Bearer sk-call"
    assert (request.headers["x-a"], request.headers["x-b"]) == ("client", "call")


# -- the module-level functions ------------------------------------------------------


@pytest.mark.parametrize("name", ["chat", "complete", "stream", "astream"])
def test_module_functions_have_the_clients_signature_and_docs(name: str) -> None:
    function = getattr(sa, name)
    method = getattr(sa.Client, name)
    params = list(inspect.signature(method).parameters.values())
    assert params[0].name == "self"
    assert inspect.signature(function) == inspect.signature(method).replace(parameters=params[1:])
    assert function.__name__ == function.__qualname__ == name
    assert "default client" in function.__doc__ and method.__doc__ in function.__doc__


def _with_locals(error: BaseException) -> str:
    return "".join(traceback.TracebackException.from_exception(
        error, capture_locals=True).format())


def test_no_frame_of_a_failed_call_holds_the_plain_key() -> None:
    """Error trackers record every frame's locals: the module-level function
    wraps the key before it calls down, and the client's method drops it."""
    client = sa.Client()
    calls: list[Callable[[], object]] = [
        lambda: sa.chat("openai/m", MSGS, api_key=KEY, timeout="soon"),  # type: ignore[arg-type]
        lambda: sa.stream("openai/m", MSGS, api_key=KEY, max_retries=-1),
        lambda: sa.complete("openai/m", 42, api_key=KEY),  # type: ignore[arg-type]
        lambda: sa.astream("openai/m", "not a list", api_key=KEY),  # type: ignore[arg-type]
        lambda: client.chat("openai/m", MSGS, api_key=KEY, headers=[1]),  # type: ignore[arg-type]
    ]
    with client:
        for call in calls:
            with pytest.raises(sa.ConfigurationError) as info:
                call()
            text = _with_locals(info.value)
            assert "api_key" in text or "kwargs" in text  # the frames are there...
            assert KEY not in text  # ...without the key
