"""Streaming from a real OpenAI-compatible server nobody here wrote:
Hugging Face ``transformers serve``, serving a tiny model built on the spot.

The model (``_tiny_model.py``) is a one-layer Qwen2 with hand-set weights, so
its greedy answers are known: ``EXPECTED_TEXT`` one token per piece, or, when
the request has tools, one complete ``get_weather`` call. That lets these
tests check exact text, token-per-event streaming, usage arithmetic and a tool
call arriving whole, through streamactors' public API, and pin down the wire
quirks of ``transformers serve`` with plain ``requests`` so that a change in
transformers is noticed. docs/notes-transformers-serve.md has the details.

Nothing is downloaded: the server runs with HF_HUB_OFFLINE=1 and loads the
model from a local directory. The packages come from .ci/install-serving.sh;
without them the tests skip, and any other failure fails.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import BaseModel

import streamactors as sa

from ._tiny_model import (
    EXPECTED_TEXT,
    TEXT_PIECES,
    TOOL_ARGUMENTS,
    TOOL_NAME,
    TOOLS,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

BUILDER = Path(__file__).with_name("_tiny_model.py")
MODEL = "tiny-qwen2"
#: What the server names the model in its chunks: the id plus a revision.
SERVED_MODEL = f"{MODEL}@main"
#: The model's end-of-turn token is generated, counted in usage, but not streamed.
TEXT_COMPLETION_TOKENS = len(TEXT_PIECES) + 1
#: Modules the server needs; if one cannot be found the tests skip.
REQUIRED_MODULES = ("torch", "transformers", "tokenizers", "fastapi", "uvicorn", "openai")
READY_TIMEOUT = 90.0
USER = [{"role": "user", "content": "hi"}]


@dataclass(frozen=True)
class Served:
    """Where to reach the running server, and where its output goes."""

    root: str
    log: Path

    @property
    def base_url(self) -> str:
        return self.root + "/v1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _log_tail(log: Path, limit: int = 4000) -> str:
    try:
        return log.read_text(errors="replace")[-limit:]
    except OSError as exc:
        return f"(no log: {exc})"


def _wait_ready(process: subprocess.Popen[bytes], root: str, log: Path) -> bool:
    """Poll ``/health`` until it answers 200 (True); False if the port was taken.

    Fails the test if the process dies for another reason or is too slow.
    """
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            if "address already in use" in _log_tail(log).lower():
                return False
            pytest.fail(
                f"transformers serve exited with {process.returncode} before it was ready; "
                f"log:\n{_log_tail(log)}"
            )
        try:
            if requests.get(root + "/health", timeout=1.0).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.1)
    pytest.fail(f"transformers serve not ready after {READY_TIMEOUT:.0f} s; log:\n{_log_tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    missing = [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(
            f"transformers serve is not installed (cannot import {', '.join(missing)}); "
            "install it with: bash .ci/install-serving.sh"
        )
    workdir = tmp_path_factory.mktemp("transformers-serve")
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "HF_HOME": str(workdir / "hf-home"),
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONUNBUFFERED": "1",
    }
    for attempt in range(2):  # a second try only if another process grabbed the port
        port = _free_port()
        log = workdir / f"server-{attempt}.log"
        root = f"http://127.0.0.1:{port}"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, str(BUILDER), "serve", str(workdir / MODEL), "--port", str(port)],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            if _wait_ready(process, root, log):
                yield Served(root, log)
                return
        finally:
            _stop(process)
    pytest.fail(f"no free port for transformers serve; log:\n{_log_tail(log)}")


def _post(served: Served, body: dict[str, Any], **headers: str) -> requests.Response:
    return requests.post(
        served.base_url + "/chat/completions",
        json={"model": MODEL, "messages": USER, "stream": True, **body},
        headers=headers,
        stream=True,
        timeout=60,
    )


def _raw_events(response: requests.Response) -> list[str]:
    """The ``data:`` payloads of an SSE body, checking it has no other kind of line."""
    body = b"".join(response.iter_content(chunk_size=None)).decode("utf-8")
    assert body.endswith("\n\n"), body[-200:]
    payloads = []
    for block in body.split("\n\n")[:-1]:
        assert block.startswith("data: ") and "\n" not in block, f"unexpected SSE block {block!r}"
        payloads.append(block[len("data: ") :])
    return payloads


# -- through streamactors --------------------------------------------------------


def test_chat_streams_text_token_by_token(served: Served) -> None:
    handle = sa.chat(
        f"openai-compatible/{MODEL}", USER, base_url=served.base_url, max_tokens=16, timeout=60
    )
    result = handle.wait(timeout=60)
    assert result.text == EXPECTED_TEXT
    assert result.finish_reason == "stop"
    assert result.tool_calls == ()
    assert result.chunks >= len(TEXT_PIECES)
    usage = result.usage
    assert usage is not None
    assert usage.completion_tokens == TEXT_COMPLETION_TOKENS
    assert usage.prompt_tokens is not None and usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_stream_yields_one_chunk_per_token_and_usage_on_finish(served: Served) -> None:
    chunks = list(
        sa.stream(
            f"openai-compatible/{MODEL}", USER, base_url=served.base_url, max_tokens=3, timeout=60
        )
    )
    assert [c.text for c in chunks if c.text] == list(TEXT_PIECES[:3])
    finished = [c for c in chunks if c.finish_reason is not None]
    assert [c.finish_reason for c in finished] == ["length"]
    (last,) = finished
    assert last is chunks[-1]
    # transformers serve puts usage on the finish chunk, not on a choices:[] chunk.
    assert last.usage is not None
    assert last.usage.completion_tokens == 3
    assert last.raw["choices"][0]["finish_reason"] == "length"
    assert [c for c in chunks if c.usage is not None] == [last]


def test_tool_call_arrives_whole(served: Served) -> None:
    chunks = list(
        sa.stream(
            f"openai-compatible/{MODEL}",
            [{"role": "user", "content": "What is the weather in Paris?"}],
            base_url=served.base_url,
            tools=TOOLS,
            timeout=60,
        )
    )
    deltas = [d for c in chunks for d in c.tool_calls]
    assert len(deltas) == 1, deltas
    (delta,) = deltas
    assert delta.index == 0
    assert delta.name == TOOL_NAME
    assert json.loads(delta.arguments) == TOOL_ARGUMENTS
    assert delta.id is not None and delta.id.endswith("_tool_call_0")
    assert chunks[-1].finish_reason == "tool_calls"


def test_chat_result_has_the_tool_call(served: Served) -> None:
    handle = sa.chat(
        f"openai-compatible/{MODEL}",
        [{"role": "user", "content": "What is the weather in Paris?"}],
        base_url=served.base_url,
        tools=TOOLS,
        timeout=60,
    )
    result = handle.wait(timeout=60)
    assert result.finish_reason == "tool_calls"
    assert result.text == ""
    (call,) = result.tool_calls
    assert call.name == TOOL_NAME
    assert call.parsed_arguments() == TOOL_ARGUMENTS
    assert call.id is not None and call.id.startswith(str(result.id))
    assert result.usage is not None
    # three pieces of JSON, </tool_call> and the end-of-turn token
    assert result.usage.completion_tokens == 5


def get_weather(city: str) -> str:
    """Current weather of a city."""
    return f"sunny in {city}"


def test_a_tool_given_as_a_function_is_sent_and_validated(served: Served) -> None:
    # The function's own schema goes to a real server, whose answer (one whole
    # tool call) comes back as a PartialToolCall, then validated arguments.
    s = sa.stream(f"openai-compatible/{MODEL}",
                  [{"role": "user", "content": "What is the weather in Paris?"}],
                  base_url=served.base_url, tools=[get_weather], timeout=60)
    (partial,) = s.partials()
    assert isinstance(partial, sa.PartialToolCall) and partial.name == TOOL_NAME
    assert partial.arguments.city == "Paris"
    assert s.result is not None
    (call,) = s.result.tool_calls
    assert get_weather(**call.parsed_arguments()) == "sunny in Paris"


def test_a_server_that_ignores_response_format_ends_in_output_validation_error(
        served: Served) -> None:
    # transformers serve accepts response_format and ignores it: the answer is
    # prose, and the stream ends with the typed error, the text kept.
    class Greeting(BaseModel):
        text: str

    handle = sa.chat(f"openai-compatible/{MODEL}", USER, base_url=served.base_url,
                     max_tokens=16, timeout=60, response_format=Greeting)
    with pytest.raises(sa.OutputValidationError) as caught:
        handle.wait(timeout=60)
    assert caught.value.offset == 0 and caught.value.partial is not None
    assert caught.value.partial.text == EXPECTED_TEXT


def test_wrong_model_is_a_bad_request_with_the_detail_message(served: Served) -> None:
    with pytest.raises(sa.BadRequestError) as caught:
        sa.chat(
            "openai-compatible/no-such-model", USER, base_url=served.base_url, max_tokens=4,
            timeout=60,
        ).wait(timeout=60)
    error = caught.value
    assert isinstance(error, sa.HTTPStatusError)
    assert error.status_code == 400
    assert error.provider_message == f"Server is pinned to '{MODEL}'; requested 'no-such-model'."
    assert error.body is not None and '"detail"' in error.body


def test_unknown_field_is_unprocessable(served: Served) -> None:
    # The library refuses a field it does not know before any request...
    with pytest.raises(sa.ConfigurationError, match="extra_body"):
        sa.chat(f"openai-compatible/{MODEL}", USER, base_url=served.base_url,
                bogus_field=1)  # type: ignore[call-arg]
    # ...and sends it as it is through extra_body, where the server judges it.
    with pytest.raises(sa.UnprocessableEntityError) as caught:
        sa.chat(
            f"openai-compatible/{MODEL}", USER, base_url=served.base_url, max_tokens=4,
            timeout=60, extra_body={"bogus_field": 1},
        ).wait(timeout=60)
    assert caught.value.status_code == 422
    assert caught.value.provider_message == "Unexpected fields in the request: {'bogus_field'}"


def test_generation_error_mid_stream_is_a_provider_error(served: Served) -> None:
    # max_tokens=0 passes validation, then generate() raises inside the stream.
    with pytest.raises(sa.ProviderError) as caught:
        sa.chat(
            f"openai-compatible/{MODEL}", USER, base_url=served.base_url, max_tokens=0,
            timeout=60,
        ).wait(timeout=60)
    assert caught.value.provider_message == "`max_new_tokens` must be greater than 0, but is 0."


# -- the wire, with plain requests -----------------------------------------------


def test_wire_one_event_per_token_usage_on_finish_no_done(served: Served) -> None:
    response = _post(served, {"max_tokens": 16}, **{"X-Request-ID": "req-streamactors-1"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["x-request-id"] == "req-streamactors-1"
    events = [json.loads(p) for p in _raw_events(response)]  # no "[DONE]" to skip
    # role first, alone; then one event per token; then finish + usage; then EOF
    assert [e["choices"][0]["delta"] for e in events] == [
        {"role": "assistant"},
        *({"content": piece} for piece in TEXT_PIECES),
        {},
    ]
    assert all(len(e["choices"]) == 1 for e in events)
    assert [e["choices"][0].get("finish_reason") for e in events] == [None] * (
        len(events) - 1
    ) + ["stop"]
    assert not [e for e in events[:-1] if "usage" in e]  # absent, not null
    usage = events[-1]["usage"]
    assert usage["completion_tokens"] == TEXT_COMPLETION_TOKENS
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert set(usage) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    # the id is the request id; the model gets its revision appended
    assert {e["id"] for e in events} == {"req-streamactors-1"}
    assert {e["model"] for e in events} == {SERVED_MODEL}
    assert {e["object"] for e in events} == {"chat.completion.chunk"}
    assert {e["system_fingerprint"] for e in events} == {""}


def test_wire_tool_call_is_one_complete_delta(served: Served) -> None:
    response = _post(served, {"tools": TOOLS}, **{"X-Request-ID": "req-tool"})
    payloads = _raw_events(response)
    events = [json.loads(p) for p in payloads]
    deltas = [e["choices"][0]["delta"] for e in events]
    assert deltas == [
        {"role": "assistant"},
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "req-tool_tool_call_0",
                    "type": "function",
                    "function": {"name": TOOL_NAME, "arguments": json.dumps(TOOL_ARGUMENTS)},
                }
            ]
        },
        {},
    ]
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert events[-1]["usage"]["completion_tokens"] == 5


def test_wire_errors_use_fastapi_detail_bodies(served: Served) -> None:
    wrong = _post(served, {"model": "no-such-model"})
    assert wrong.status_code == 400
    assert wrong.headers["content-type"] == "application/json"
    assert wrong.json() == {"detail": f"Server is pinned to '{MODEL}'; requested 'no-such-model'."}

    unknown = _post(served, {"bogus_field": 1})
    assert unknown.status_code == 422
    assert unknown.json() == {"detail": "Unexpected fields in the request: {'bogus_field'}"}

    invalid = requests.post(
        served.base_url + "/chat/completions", data=b"not json",
        headers={"Content-Type": "application/json"}, timeout=30,
    )
    assert invalid.status_code == 422
    (problem,) = invalid.json()["detail"]
    assert problem["type"] == "json_invalid"

    # an uncaught exception in the handler is Starlette's bare text 500
    crash = _post(served, {"max_tokens": "many"})
    assert crash.status_code == 500
    assert crash.headers["content-type"].startswith("text/plain")
    assert crash.text == "Internal Server Error"


def test_wire_mid_stream_error_is_a_bare_string(served: Served) -> None:
    response = _post(served, {"max_tokens": 0})
    assert response.status_code == 200
    payloads = _raw_events(response)
    assert len(payloads) == 2
    assert json.loads(payloads[0])["choices"][0]["delta"] == {"role": "assistant"}
    # not OpenAI's {"error": {"message": ...}}: a string, built without JSON escaping
    assert json.loads(payloads[1]) == {
        "error": "`max_new_tokens` must be greater than 0, but is 0."
    }



def test_wire_length_when_the_end_token_is_the_last_allowed(served: Served) -> None:
    # The answer is 6 text tokens + <|im_end|>. With max_tokens=7 the model
    # finishes on its own, yet the server says "length": it compares the token
    # count with max_tokens, not why generation stopped.
    events = [json.loads(p) for p in _raw_events(_post(served, {"max_tokens": 7}))]
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events) == EXPECTED_TEXT
    assert events[-1]["choices"][0]["finish_reason"] == "length"
    assert events[-1]["usage"]["completion_tokens"] == TEXT_COMPLETION_TOKENS


def test_wire_ignores_stream_options_and_n(served: Served) -> None:
    # Known-but-unsupported OpenAI fields are dropped with a log line, not
    # rejected: usage comes on the finish chunk regardless of include_usage,
    # and n=2 still gives one choice.
    body = {"max_tokens": 2, "n": 2, "stream_options": {"include_usage": False}}
    events = [json.loads(p) for p in _raw_events(_post(served, body))]
    assert {len(e["choices"]) for e in events} == {1}
    assert {e["choices"][0]["index"] for e in events} == {0}
    assert events[-1]["usage"]["completion_tokens"] == 2
