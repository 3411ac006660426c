"""Secrets stay secret (guarantee 7): with a canary key, on every error path,
the key appears in no repr, no log record at any level, no exception message
or argument, no traceback and no saved result; redirects are not followed."""

from __future__ import annotations

import json
import logging
import pickle
import queue
import socket
import time
import traceback
from collections.abc import Callable
from typing import Any

import pytest

import streamactors
from streamactors import Error, Finish, HTTPStatusError, Message, StreamError, Timeout
from streamactors.providers import RequestInput, resolve
from streamactors.testing import Fault, LoopbackServer, Script

from . import MESSAGES, MODELS, RawServer, blackhole, chat_kwargs, wait_until

pytestmark = pytest.mark.timeout(20)

KEY = "sk-canary-7f3a9c21e5d84b06"
TOKENS = ("one", " two", " three")
#: The header each provider prefix carries its key in.
KEY_HEADER = {"openai": "authorization", "openai-responses": "authorization",
              "anthropic": "x-api-key", "gemini": "x-goog-api-key",
              "mistral": "authorization", "openrouter": "authorization"}


def exposed(obj: Any, seen: set[int] | None = None, depth: int = 0) -> list[str]:
    """Every text a user could see of ``obj``: reprs, strs, exception args,
    attributes, chained causes and formatted tracebacks."""
    seen = set() if seen is None else seen
    if obj is None or id(obj) in seen or depth > 4:
        return []
    seen.add(id(obj))
    out = [repr(obj), str(obj)]
    if isinstance(obj, BaseException):
        out += ["".join(traceback.format_exception(obj))]
        out += [repr(a) for a in obj.args]
        for value in vars(obj).values():
            out += exposed(value, seen, depth + 1)
        out += exposed(obj.__cause__, seen, depth + 1)
        out += exposed(obj.__context__, seen, depth + 1)
        try:
            out.append(repr(pickle.loads(pickle.dumps(obj))))
            out.append(repr(pickle.dumps(obj)))
        except Exception as exc:  # pragma: no cover - shown in the failure
            out.append(f"unpicklable: {exc!r}")
    elif isinstance(obj, streamactors.StreamResult):
        out += [obj.model_dump_json(), repr(obj.model_dump()), repr(obj.to_chat_completion())]
    elif isinstance(obj, (Error, Finish, streamactors.Data)):
        out += exposed(getattr(obj, "error", None), seen, depth + 1)
        out += exposed(getattr(obj, "result", None), seen, depth + 1)
        out += exposed(obj.stream, seen, depth + 1)
    return out


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    fmt = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return [fmt.format(r) for r in caplog.records] + [repr(r.args) for r in caplog.records]


def assert_no_key(texts: list[str]) -> None:
    for text in texts:
        assert KEY not in text, f"the key leaked in: {text[:300]}"
        assert KEY[3:-3] not in text, f"part of the key leaked in: {text[:300]}"


def client_for(server: LoopbackServer, provider: str = "openai",
               **kwargs: Any) -> streamactors.Client:
    kwargs.setdefault("timeout", Timeout(connect=2, read=0.2))
    kwargs.setdefault("max_retries", 1)
    return streamactors.Client(base_url=server.url(provider), api_key=KEY, trust_env=False,
                               **kwargs)


def run_and_collect(client: streamactors.Client, model: str, **kwargs: Any) -> list[str]:
    """Run one stream into a queue; every text of what came back."""
    q: queue.Queue[Message] = queue.Queue()
    handle = client.chat(model, MESSAGES, stream_to=q, **kwargs)
    messages: list[Message] = []
    while True:
        m = q.get(timeout=10)
        messages.append(m)
        if isinstance(m, (Error, Finish)):
            break
    try:
        handle.wait(5)
    except StreamError as exc:
        assert exc is handle.error
    texts = [repr(handle), repr(client)]
    for m in messages:
        texts += exposed(m)
    texts += exposed(handle.error) + exposed(handle.result)
    return texts


ERROR_FAULTS = {
    "http_401_echo": Fault("http_error", status=401,
                           message=f"Incorrect API key provided: {KEY}. Find yours at ..."),
    "http_429_echo": Fault("http_error", status=429, retry_after=0,
                           message=f"Rate limit for key {KEY} reached"),
    "in_band_error_echo": Fault("error_event", after=1, message=f"key {KEY} was revoked"),
    "malformed_json": Fault("malformed_json", after=1),
    "html_200": Fault("html_200"),
    "stall": Fault("stall", after=1, seconds=10),
    "drop": Fault("drop", after=1),
    "empty_body": Fault("empty_body"),
}


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("name", list(ERROR_FAULTS))
def test_no_key_on_error_paths(name: str, provider: str, server: LoopbackServer,
                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.script = Script(tokens=TOKENS, fault=ERROR_FAULTS[name])
    client = client_for(server, provider)
    try:
        texts = run_and_collect(client, MODELS[provider], **chat_kwargs(provider))
    finally:
        client.close()
    # The key did go out, to the right server, in its header.
    assert server.requests[0].headers[KEY_HEADER[provider]].endswith(KEY)
    assert_no_key(texts + logged(caplog))


def test_no_key_on_connection_refused(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = streamactors.Client(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY,
                                 max_retries=1, trust_env=False)
    try:
        texts = run_and_collect(client, MODELS["openai"])
    finally:
        client.close()
    assert_no_key(texts + logged(caplog))


def test_no_key_on_connect_timeout(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    listener, fillers = blackhole()
    client = streamactors.Client(base_url=f"http://127.0.0.1:{listener.getsockname()[1]}/v1",
                                 api_key=KEY, max_retries=0, trust_env=False,
                                 timeout=Timeout(connect=0.2, read=1))
    try:
        texts = run_and_collect(client, MODELS["openai"])
    finally:
        client.close()
        for s in [listener, *fillers]:
            s.close()
    assert_no_key(texts + logged(caplog))


@pytest.mark.parametrize("limit", ["first_token", "total"])
def test_no_key_on_deadlines(limit: str, server: LoopbackServer,
                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.script = Script(tokens=TOKENS, fault=Fault("stall", after=0, seconds=10))
    client = client_for(server)
    try:
        texts = run_and_collect(client, MODELS["openai"],
                                timeout=Timeout(read=5, **{limit: 0.15}))
    finally:
        client.close()
    assert_no_key(texts + logged(caplog))


def test_no_key_on_cancel(server: LoopbackServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.script = Script(tokens=TOKENS, fault=Fault("stall", after=1, seconds=10))
    client = client_for(server, timeout=Timeout(read=5))
    try:
        q: queue.Queue[Message] = queue.Queue()
        handle = client.chat(MODELS["openai"], MESSAGES, stream_to=q)
        assert q.get(timeout=5) is not None
        handle.cancel()
        with pytest.raises(streamactors.StreamCancelled) as info:
            handle.wait(2)
        texts = [*exposed(info.value), repr(handle)]
    finally:
        client.close()
    assert_no_key(texts + logged(caplog))


def test_no_key_in_a_finished_stream(server: LoopbackServer,
                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.script = Script(tokens=TOKENS)
    client = client_for(server)
    try:
        texts = run_and_collect(client, MODELS["openai"])
    finally:
        client.close()
    assert_no_key(texts + logged(caplog))


def test_key_echoed_in_provider_fields_is_scrubbed(server: LoopbackServer) -> None:
    """Everything the worker attaches to the error (message, provider
    message, body, args) is scrubbed, not only the message."""
    server.script = Script(fault=Fault("http_error", status=401, message=f"bad key {KEY}"))
    client = client_for(server, max_retries=0)
    try:
        with pytest.raises(streamactors.AuthenticationError) as info:
            client.chat(MODELS["openai"], MESSAGES).wait(5)
    finally:
        client.close()
    err = info.value
    assert err.provider_message is not None and "bad key ***" in err.provider_message
    assert err.body is not None and "bad key ***" in err.body
    assert "***" in str(err)


@pytest.mark.parametrize("provider", ["openai", "openai-responses", "anthropic", "gemini",
                                      "mistral", "openrouter"])
def test_reprs_of_config_and_request(provider: str) -> None:
    prov, config = resolve(MODELS[provider], base_url="http://127.0.0.1:9/v1", api_key=KEY,
                           api="responses" if provider == "openai-responses" else None)
    request = prov.build_request(config, RequestInput("chat", tuple(MESSAGES)))
    assert KEY in "".join(request.wire_headers().values())  # it is there, only on the wire
    client = streamactors.Client(api_key=KEY)
    try:
        assert_no_key([repr(config), str(config), repr(request), str(request),
                       repr(request.secret_headers), repr(client), repr(config.api_key)])
        with pytest.raises(TypeError):
            pickle.dumps(config.api_key)
    finally:
        client.close()


def test_redirect_never_carries_the_key(caplog: pytest.LogCaptureFixture) -> None:
    """A 307 to another loopback port: not followed, so the second server
    sees nothing; the error is typed by its status and shows no key."""
    caplog.set_level(logging.DEBUG)
    with RawServer(lambda r: b"HTTP/1.1 500 No\r\ncontent-length: 0\r\n\r\n") as other:
        location = other.base_url + "/v1/chat/completions?k=1"
        answer = (f"HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\n"
                  "content-length: 0\r\n\r\n").encode()
        with RawServer(lambda r: answer) as first:
            client = streamactors.Client(base_url=first.base_url + "/v1", api_key=KEY,
                                         trust_env=False, max_retries=2)
            try:
                texts = run_and_collect(client, MODELS["openai"])
                err = client.chat(MODELS["openai"], MESSAGES)
                with pytest.raises(HTTPStatusError) as info:
                    err.wait(5)
            finally:
                client.close()
            assert KEY.encode() in first.requests[0]
        time.sleep(0.1)
        assert other.requests == []
        assert wait_until(lambda: other.connections_open == 0)
    assert info.value.status_code == 307
    assert_no_key(texts + logged(caplog))


@pytest.mark.parametrize(
    ("key", "text", "scrubbed"),
    [
        ("k", "internal error in the stream worker: k", "internal error in the stream worker: ***"),
        ("k", "key=k; Bearer k.", "key=***; Bearer ***."),
        ("abc", "abcd abc-1 xabc abc", "abcd abc-1 xabc ***"),
        (KEY, f"x{KEY}y and {KEY}", "x***y and ***"),  # a real-length key: everywhere
    ],
)
def test_short_keys_are_scrubbed_where_they_stand_alone(key: str, text: str,
                                                         scrubbed: str) -> None:
    from streamactors.actors._scrub import scrub_text as _scrub_text

    _, config = resolve(MODELS["openai"], base_url="http://127.0.0.1:9/v1", api_key=key)
    assert _scrub_text(text, config) == scrubbed


# -- keys travel only to their own provider --------------------------------------------


@pytest.mark.parametrize(("model", "variable"), [("anthropic/m", "ANTHROPIC_API_KEY"),
                                                 ("gemini/m", "GEMINI_API_KEY"),
                                                 ("openai/m", "OPENAI_API_KEY")])
def test_an_environment_key_never_goes_to_another_providers_base_url(
        model: str, variable: str) -> None:
    """A ``Client(base_url=X)`` set up for one provider: a call for another
    provider must not send that provider's environment key to X."""
    seen: list[bytes] = []
    def respond(request: bytes) -> bytes:
        seen.append(request)
        return b"HTTP/1.1 500 x\r\n\r\n"

    with RawServer(respond) as raw:
        client = streamactors.Client(base_url=raw.base_url + "/v1", env={variable: KEY},
                                     trust_env=False)
        try:
            with pytest.raises(streamactors.ConfigurationError) as info:
                client.chat(model, MESSAGES)
        finally:
            client.close()
    assert variable in str(info.value) and "base_url" in str(info.value)
    assert_no_key(exposed(info.value))
    assert not seen, "a request was sent"


def test_an_environment_key_goes_to_a_base_url_given_for_its_provider(
        server: LoopbackServer) -> None:
    for provider in ("anthropic", "gemini"):
        client = streamactors.Client(env={f"{provider.upper()}_API_KEY": KEY}, trust_env=False)
        try:
            client.chat(MODELS[provider], MESSAGES, base_url=server.url(provider)).wait(5)
        finally:
            client.close()
        assert server.requests[-1].headers[KEY_HEADER[provider]] == KEY


def test_a_client_base_url_serves_a_provider_without_a_host_of_its_own(
        server: LoopbackServer) -> None:
    client = streamactors.Client(base_url=server.url("openai-compatible"), trust_env=False,
                                 env={"OPENAI_COMPATIBLE_API_KEY": KEY})
    try:
        client.chat("openai-compatible/m", MESSAGES).wait(5)
    finally:
        client.close()
    assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"


# -- every attribute of an error is scrubbed --------------------------------------------


def test_key_echoed_in_type_code_and_request_id_is_scrubbed() -> None:
    body = json.dumps({"error": {"message": f"key {KEY} is bad", "type": f"invalid_key_{KEY}",
                                 "code": KEY}}).encode()

    def respond(request: bytes) -> bytes:
        return (b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
                b"x-request-id: req-" + KEY.encode() + b"\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n" + body)

    with RawServer(respond) as raw:
        client = streamactors.Client(base_url=raw.base_url + "/v1", api_key=KEY,
                                     trust_env=False, max_retries=0)
        try:
            with pytest.raises(streamactors.AuthenticationError) as info:
                client.chat(MODELS["openai"], MESSAGES).wait(5)
        finally:
            client.close()
    err = info.value
    assert err.type == "invalid_key_***" and err.code == "***"
    assert err.request_id == "req-***"
    revived = pickle.loads(pickle.dumps(err))
    assert_no_key(exposed(err) + exposed(revived) + [repr(vars(revived))])


# -- frame locals -------------------------------------------------------------------------


def _with_locals(error: BaseException) -> str:
    return "".join(traceback.TracebackException.from_exception(
        error, capture_locals=True).format())


def test_a_failed_streams_traceback_with_locals_shows_no_key() -> None:
    """Error trackers capture the locals of every frame of a traceback: the
    key stays in a Secret (or a masked header value) in every one of ours."""
    listener, fillers = blackhole()  # nothing answers: the request fails in send()
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    port = refused.getsockname()[1]
    refused.close()  # a port nobody listens on: connection refused
    try:
        client = streamactors.Client(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY,
                                     trust_env=False, max_retries=0)
        try:
            with pytest.raises(streamactors.StreamConnectionError) as info:
                client.chat(MODELS["openai"], MESSAGES).wait(5)
        finally:
            client.close()
    finally:
        listener.close()
        for s in fillers:
            s.close()
    text = _with_locals(info.value)
    assert "send" in text  # the transport's frame, with its locals, is in there
    assert_no_key([text])


def test_a_configuration_errors_traceback_with_locals_shows_no_key() -> None:
    cases = [
        # Calls that are wrong on purpose: the type checker refuses them too.
        lambda: streamactors.chat("anthropic/m", MESSAGES, api_key=KEY,
                                  temprature=1),  # type: ignore[call-arg]
        lambda: streamactors.Client(api_key=KEY, reader="bogus"),
        lambda: streamactors.Client(api_key=KEY).chat(
            "openai/m", MESSAGES, n="x", api_key=KEY,  # type: ignore[arg-type]
            extra_body=[1]),  # type: ignore[arg-type]
        lambda: streamactors.stream("openai/m", MESSAGES, api_key=KEY,
                                    stream_to=print),  # type: ignore[call-arg]
    ]
    case: Callable[[], object]
    for case in cases:
        with pytest.raises(streamactors.ConfigurationError) as info:
            case()
        assert_no_key([_with_locals(info.value)])


def test_an_environment_key_is_not_in_resolves_locals() -> None:
    with pytest.raises(streamactors.ConfigurationError) as info:
        resolve("anthropic/m", default_base_url="http://127.0.0.1:9",
                env={"ANTHROPIC_API_KEY": KEY})
    assert_no_key([_with_locals(info.value)])
