"""The loopback server, checked from the outside with plain requests and sockets.

Nothing here uses the rest of streamactors: the server must be trustworthy on
its own before the client's tests lean on it.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from streamactors.testing import Fault, LoopbackServer, RecordedRequest, Script, ToolCallSpec
from streamactors.testing.pytest_plugin import loopback_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(15)

TEXT = "Hello there, streaming world!"
TOKENS = ["Hello", " there,", " streaming", " world!"]
CHAT = "/v1/chat/completions"
GEMINI = "/v1beta/models/demo:streamGenerateContent?alt=sse"
ALL_PATHS = [CHAT, "/v1/completions", "/v1/responses", "/v1/messages", GEMINI]
ALL_PATHS += ["/api/chat", "/api/generate"]


# -- helpers: a deliberately small SSE / NDJSON / chunked reader -------------------------


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(Script(text=TEXT)) as srv:
        yield srv


def post(server: LoopbackServer, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
    payload = {"model": "m", "stream": True} if body is None else body
    kwargs.setdefault("timeout", 5)
    return requests.post(server.base_url + path, json=payload, **kwargs)


def sse_events(raw: bytes) -> list[tuple[str | None, str]]:
    """(event, data) pairs; enough SSE for what this server writes."""
    events = []
    for block in raw.replace(b"\r\n", b"\n").decode().split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        events.append((name, "\n".join(data)))
    return events


def sse_json(raw: bytes) -> list[Any]:
    return [json.loads(d) for _, d in sse_events(raw) if d != "[DONE]"]


def ndjson(raw: bytes) -> list[Any]:
    return [json.loads(line) for line in raw.decode().splitlines()]


def raw_exchange(server: LoopbackServer, path: str, body: Any = None, timeout: float = 5) -> bytes:
    """Send one request on a fresh socket; return every byte until the server closes."""
    payload = json.dumps({"stream": True} if body is None else body).encode()
    with socket.create_connection(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1]))) as sock:
        sock.settimeout(timeout)
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(payload)}\r\n"
        sock.sendall(head.encode() + b"Connection: close\r\n\r\n" + payload)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def dechunk(raw: bytes) -> tuple[bytes, list[bytes], bool]:
    """(headers, chunk payloads, saw the terminating zero chunk)."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    chunks: list[bytes] = []
    while rest:
        size_line, sep, rest = rest.partition(b"\r\n")
        if not sep:
            break
        size = int(size_line, 16)
        if size == 0:
            return head, chunks, True
        chunks.append(rest[:size])
        rest = rest[size + 2 :]
    return head, chunks, False


def wait_until(condition: Any, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


# -- scripts ---------------------------------------------------------------------------


def test_script_tokens_keep_every_character() -> None:
    assert Script(text=TEXT).text_tokens == tuple(TOKENS)
    assert "".join(Script().text_tokens) == Script().text
    assert Script().text_tokens[:3] == ("Hello!", " This", " reply")
    assert Script(text=" a  b \n").text_tokens == (" a", "  b", " \n")
    assert Script(tokens=["x", "y"]).text == "xy"
    with pytest.raises(ValueError):
        Script(text="abc", tokens=["a", "b"])
    assert Script.from_text("a b", tokens_per_second=5).tokens_per_second == 5
    tool = Script.tool("lookup", {"q": 1})
    assert tool.text == "" and tool.tool_calls == (ToolCallSpec("lookup", '{"q": 1}'),)
    assert tool.finish == "tool_calls" and Script().finish == "stop"
    with pytest.raises(ValueError):
        Fault("nonsense")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"json.dumps\(...\)"):
        ToolCallSpec("lookup", {"q": 1})  # type: ignore[arg-type]


def test_url_prefixes(server: LoopbackServer) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")
    for provider in ("openai", "openai-responses", "mistral", "openrouter", "openai-compatible"):
        assert server.url(provider) == server.base_url + "/v1"
    for provider in ("anthropic", "gemini", "ollama"):
        assert server.url(provider) == server.base_url
    with pytest.raises(ValueError):
        server.url("nope")
    with pytest.raises(RuntimeError):
        _ = LoopbackServer().base_url


# -- OpenAI chat completions -----------------------------------------------------------


def test_chat_happy_path_without_usage(server: LoopbackServer) -> None:
    r = post(server, CHAT)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.headers["x-request-id"] == "req_test_1"
    events = sse_events(r.content)
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(d) for _, d in events[:-1]]
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == "demo-model"
        assert chunk["id"] == chunks[0]["id"] and isinstance(chunk["created"], int)
        assert "usage" not in chunk
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    deltas = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]]
    assert deltas == TOKENS
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }


def test_chat_usage_chunk_only_when_requested(server: LoopbackServer) -> None:
    body = {"stream": True, "stream_options": {"include_usage": True}}
    chunks = sse_json(post(server, CHAT, body).content)
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}
    assert all(c["usage"] is None for c in chunks[:-1])
    server.script = Script(text=TEXT, usage=(3, 40))
    chunks = sse_json(post(server, CHAT, body).content)
    assert chunks[-1]["usage"]["completion_tokens"] == 40
    server.script = Script(text=TEXT, usage=None)
    chunks = sse_json(post(server, CHAT, body).content)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_chat_reasoning_then_text_then_tool_calls(server: LoopbackServer) -> None:
    server.script = Script(
        text="Let me look.",
        reasoning="Need the weather.",
        tool_calls=[ToolCallSpec("weather", '{"city": "Paris"}'), ToolCallSpec("time", id="t-9")],
    )
    chunks = sse_json(post(server, CHAT).content)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    kinds = [next(iter(d)) if d else "finish" for d in deltas]
    first_text, first_tool = kinds.index("content", 1), kinds.index("tool_calls")
    assert kinds[1:first_text] == ["reasoning_content"] * 3
    assert first_text < first_tool and kinds[-1] == "finish"
    assert "".join(d["reasoning_content"] for d in deltas if "reasoning_content" in d) == (
        "Need the weather."
    )
    assert "".join(d["content"] for d in deltas[1:] if "content" in d) == "Let me look."
    fragments = [f for d in deltas for f in d.get("tool_calls", [])]
    heads = [f for f in fragments if "id" in f]
    assert [(f["index"], f["id"], f["type"]) for f in heads] == [
        (0, "call_0001", "function"),
        (1, "t-9", "function"),
    ]
    assert [f["function"] for f in heads] == [
        {"name": "weather", "arguments": ""},
        {"name": "time", "arguments": ""},
    ]
    args = [
        "".join(f["function"]["arguments"] for f in fragments if f["index"] == i) for i in (0, 1)
    ]
    assert args == ['{"city": "Paris"}', "{}"]
    assert len([f for f in fragments if f["index"] == 0]) == 4  # head + 3 pieces
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_chat_n_choices_interleave(server: LoopbackServer) -> None:
    server.script = Script(text=TEXT, n=3)
    chunks = sse_json(post(server, CHAT).content)
    indexes = [c["choices"][0]["index"] for c in chunks]
    assert indexes[:6] == [0, 1, 2, 0, 1, 2]
    for i in range(3):
        mine = [c["choices"][0] for c in chunks if c["choices"][0]["index"] == i]
        assert "".join(ch["delta"].get("content", "") for ch in mine) == TEXT
        assert mine[-1]["finish_reason"] == "stop"


# -- legacy completions and Responses --------------------------------------------------


def test_legacy_completions(server: LoopbackServer) -> None:
    body = {"stream": True, "stream_options": {"include_usage": True}}
    events = sse_events(post(server, "/v1/completions", body).content)
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(d) for _, d in events[:-1]]
    assert all(c["object"] == "text_completion" for c in chunks)
    assert "".join(c["choices"][0]["text"] for c in chunks[:-1]) == TEXT
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 4


def test_responses_events(server: LoopbackServer) -> None:
    server.script = Script(
        text=TEXT, reasoning="Think.", tool_calls=[ToolCallSpec("add", '{"a": 3}')], usage=(7, 9)
    )
    r = post(server, "/v1/responses")
    events = sse_events(r.content)
    payloads = [json.loads(d) for _, d in events]
    assert [name for name, _ in events] == [p["type"] for p in payloads]
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    names = [name for name, _ in events]
    assert names[:2] == ["response.created", "response.in_progress"]
    assert names[-1] == "response.completed" and "[DONE]" not in r.text
    assert names.index("response.reasoning_summary_text.delta") < names.index(
        "response.output_text.delta"
    )
    text_order = [
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 4,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ]
    start = names.index("response.content_part.added") - 1
    assert names[start : start + len(text_order)] == text_order
    deltas = [p["delta"] for p in payloads if p["type"] == "response.output_text.delta"]
    assert "".join(deltas) == TEXT
    added = [p["item"] for p in payloads if p["type"] == "response.output_item.added"]
    call = added[-1]
    assert [item["type"] for item in added] == ["reasoning", "message", "function_call"]
    assert call["call_id"] == "call_0001" and call["name"] == "add"
    arg_deltas = [
        p["delta"] for p in payloads if p["type"] == "response.function_call_arguments.delta"
    ]
    assert "".join(arg_deltas) == '{"a": 3}'
    done = payloads[-1]["response"]
    assert done["status"] == "completed"
    assert done["usage"]["input_tokens"] == 7 and done["usage"]["output_tokens"] == 9
    assert done["usage"]["total_tokens"] == 16
    assert [item["type"] for item in done["output"]] == ["reasoning", "message", "function_call"]


def test_responses_length_is_incomplete(server: LoopbackServer) -> None:
    server.script = Script(text=TEXT, finish_reason="length")
    last = sse_json(post(server, "/v1/responses").content)[-1]
    assert last["type"] == "response.incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


# -- Anthropic, Gemini, Ollama ---------------------------------------------------------


def test_anthropic_messages(server: LoopbackServer) -> None:
    server.script = Script(
        text=TEXT, reasoning="Hmm.", tool_calls=[ToolCallSpec("get", '{"k": "v"}')]
    )
    r = post(server, "/v1/messages")
    assert r.headers["request-id"] == "req_test_1"
    events = sse_events(r.content)
    payloads = [json.loads(d) for _, d in events]
    assert [n for n, _ in events] == [p["type"] for p in payloads]
    names = [n for n, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert "ping" in names
    assert payloads[0]["message"]["usage"]["input_tokens"] == 12
    assert payloads[0]["message"]["usage"]["output_tokens"] == 1
    starts = [p["content_block"] for p in payloads if p["type"] == "content_block_start"]
    assert [b["type"] for b in starts] == ["thinking", "text", "tool_use"]
    assert starts[2]["id"] == "toolu_0001" and starts[2]["input"] == {}
    stops = [p["index"] for p in payloads if p["type"] == "content_block_stop"]
    assert stops == [0, 1, 2]
    deltas = [p["delta"] for p in payloads if p["type"] == "content_block_delta"]
    assert "".join(d.get("thinking", "") for d in deltas) == "Hmm."
    assert [d["type"] for d in deltas].count("signature_delta") == 1
    assert "".join(d.get("text", "") for d in deltas) == TEXT
    json_parts = [d["partial_json"] for d in deltas if d["type"] == "input_json_delta"]
    assert json_parts[0] == "" and "".join(json_parts) == '{"k": "v"}'
    assert payloads[-2]["delta"]["stop_reason"] == "tool_use"
    assert payloads[-2]["usage"] == {"output_tokens": 4}


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal")],
)
def test_anthropic_stop_reasons(server: LoopbackServer, finish: str, stop_reason: str) -> None:
    server.script = Script(text=TEXT, finish_reason=finish)
    payloads = sse_json(post(server, "/v1/messages").content)
    assert payloads[-2]["delta"]["stop_reason"] == stop_reason


def test_gemini_stream(server: LoopbackServer) -> None:
    server.script = Script(text=TEXT, reasoning="Plan.", tool_calls=[ToolCallSpec("f", '{"x": 1}')])
    r = post(server, GEMINI, {"contents": []})
    assert r.headers["content-type"] == "text/event-stream"
    assert r.content.endswith(b"}\r\n\r\n") and b"}\n\n" not in r.content
    chunks = sse_json(r.content)
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    assert "".join(p["text"] for p in parts if p.get("thought")) == "Plan."
    assert "".join(p.get("text", "") for p in parts if not p.get("thought")) == TEXT
    calls = [p["functionCall"] for p in parts if "functionCall" in p]
    assert calls == [{"name": "f", "args": {"x": 1}, "id": "call_0001"}]
    reasons = [c["candidates"][0].get("finishReason") for c in chunks]
    assert reasons[-1] == "STOP" and set(reasons[:-1]) == {None}
    assert chunks[-1]["usageMetadata"] == {
        "promptTokenCount": 12,
        "candidatesTokenCount": 4,
        "totalTokenCount": 16,
    }
    assert server.requests[0].query == {"alt": "sse"}


def test_gemini_without_alt_sse_is_refused(server: LoopbackServer) -> None:
    r = post(server, GEMINI.split("?")[0], {"contents": []})
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_ollama_chat_and_generate(server: LoopbackServer) -> None:
    server.script = Script(text="a <b> & c", reasoning="hm", tool_calls=[ToolCallSpec("f", "{}")])
    r = post(server, "/api/chat")
    assert r.headers["content-type"] == "application/x-ndjson"
    assert b"\\u003cb\\u003e" in r.content and b"\\u0026" in r.content and b"<" not in r.content
    assert r.content.endswith(b"\n")
    lines = ndjson(r.content)
    assert "".join(line["message"].get("thinking", "") for line in lines) == "hm"
    assert "".join(line["message"]["content"] for line in lines) == "a <b> & c"
    calls = [c for line in lines for c in line["message"].get("tool_calls", [])]
    assert calls == [{"function": {"name": "f", "arguments": {}}}]
    assert [line["done"] for line in lines].count(True) == 1 and lines[-1]["done"] is True
    assert lines[-1]["done_reason"] == "stop"
    assert (lines[-1]["prompt_eval_count"], lines[-1]["eval_count"]) == (12, 4)
    lines = ndjson(post(server, "/api/generate").content)
    assert "".join(line["response"] for line in lines) == "a <b> & c"
    assert lines[-1]["done"] is True and "context" in lines[-1]


# -- HTTP behaviour --------------------------------------------------------------------


def test_keep_alive_reuses_one_connection(server: LoopbackServer) -> None:
    with requests.Session() as session:
        for path in (CHAT, "/v1/messages", "/api/chat"):
            with session.post(server.base_url + path, json={}, stream=True, timeout=5) as r:
                assert r.status_code == 200
                for _ in r.iter_content(chunk_size=None):
                    pass
    del r  # the last response keeps the socket's file object open past Session.close()
    assert server.connections_total == 1
    assert wait_until(lambda: server.connections_open == 0)


def test_push_is_fifo_then_default(server: LoopbackServer) -> None:
    server.push(Script(text="one"), Script(text="two"))
    texts = []
    for _ in range(3):
        lines = ndjson(post(server, "/api/generate").content)
        texts.append("".join(line["response"] for line in lines))
    assert texts == ["one", "two", TEXT]


def test_requests_are_recorded(server: LoopbackServer) -> None:
    r = requests.post(
        server.url("openai") + "/chat/completions?trace=1",
        json={"model": "gpt", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": "Bearer sk-test", "X-Custom": "yes"},
        timeout=5,
    )
    assert r.status_code == 200
    assert server.wait_for_requests(1, timeout=1)
    assert not server.wait_for_requests(2, timeout=0.05)
    [rec] = server.requests
    assert isinstance(rec, RecordedRequest)
    assert (rec.method, rec.path, rec.query) == ("POST", "/v1/chat/completions", {"trace": "1"})
    assert rec.headers["authorization"] == "Bearer sk-test" and rec.headers["x-custom"] == "yes"
    assert rec.json()["messages"][0]["content"] == "hi"
    # A generator body goes out with Transfer-Encoding: chunked.
    r = requests.post(server.base_url + CHAT, data=iter([b'{"a":', b" 1}"]), timeout=5)
    assert r.status_code == 200
    assert server.requests[1].headers["transfer-encoding"] == "chunked"
    assert server.requests[1].json() == {"a": 1}


def test_unknown_path_and_bad_json(server: LoopbackServer) -> None:
    r = requests.get(server.base_url + "/nope", timeout=5)
    assert r.status_code == 404 and "Invalid URL (GET /nope)" in r.json()["error"]["message"]
    r = requests.post(server.base_url + "/v1/messages", data=b"{oops", timeout=5)
    assert r.status_code == 400 and r.json()["type"] == "error"
    assert len(server.requests) == 2


# -- faults before the stream ----------------------------------------------------------


@pytest.mark.parametrize("path", [CHAT, "/v1/messages", GEMINI, "/api/chat"])
def test_http_error_bodies(server: LoopbackServer, path: str) -> None:
    fault = Fault("http_error", status=429, retry_after=1.5, message="slow down")
    server.script = Script(fault=fault)
    r = post(server, path)
    assert r.status_code == 429 and r.headers["retry-after"] == "1.5"
    body = r.json()
    if path == CHAT:
        assert r.headers["x-request-id"] == "req_test_1"
        assert body == {
            "error": {
                "message": "slow down",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        }
    elif path == "/v1/messages":
        assert r.headers["request-id"] == "req_test_1"
        assert body["type"] == "error" and body["request_id"] == "req_test_1"
        assert body["error"] == {"type": "rate_limit_error", "message": "slow down"}
    elif path == GEMINI:
        assert body["error"]["code"] == 429 and body["error"]["status"] == "RESOURCE_EXHAUSTED"
        assert body["error"]["message"] == "slow down"
        assert body["error"]["details"][0]["retryDelay"] == "1.5s"
    else:
        assert body == {"error": "slow down"}


def test_http_error_529_and_times(server: LoopbackServer) -> None:
    server.script = Script(text=TEXT, fault=Fault("http_error", status=529, times=2))
    statuses = [post(server, "/v1/messages").status_code for _ in range(3)]
    assert statuses == [529, 529, 200]
    server.push(Script(fault=Fault("http_error", status=529)))
    assert post(server, "/v1/messages").json()["error"]["type"] == "overloaded_error"


def test_empty_body_and_html_200(server: LoopbackServer) -> None:
    server.push(Script(fault=Fault("empty_body")), Script(fault=Fault("html_200")))
    r = post(server, CHAT)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-type"].startswith("text/event-stream")
    r = post(server, CHAT)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.content.startswith(b"<!DOCTYPE html>")


# -- faults in the stream --------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_PATHS)
def test_error_event_in_band(server: LoopbackServer, path: str) -> None:
    server.script = Script(text=TEXT, fault=Fault("error_event", after=2, message="boom"))
    r = post(server, path)
    assert r.status_code == 200
    if path.startswith("/api/"):
        lines = ndjson(r.content)
        assert lines[-1] == {"error": "boom"} and len(lines) == 3
        return
    events = sse_events(r.content)
    name, data = events[-1]
    error = json.loads(data)
    assert "[DONE]" not in r.text and "boom" in data
    if path == "/v1/messages":
        assert name == "error" and error["error"]["type"] == "api_error"
    elif path == "/v1/responses":
        assert name == "error" and error["type"] == "error" and error["message"] == "boom"
    elif path == GEMINI:
        assert error["error"]["code"] == 500 and error["error"]["status"] == "INTERNAL"
    else:
        assert name is None and error["error"]["type"] == "server_error"


def test_fault_after_the_last_chunk_fires_before_the_ending(server: LoopbackServer) -> None:
    server.script = Script(text=TEXT, fault=Fault("error_event", after=99))
    chunks = sse_json(post(server, CHAT).content)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1]) == TEXT
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert chunks[-1]["error"]["message"] == "scripted failure"


def test_drop_after_two_chunks_has_no_terminator(server: LoopbackServer) -> None:
    server.script = Script(text=TEXT, fault=Fault("drop", after=2))
    head, chunks, terminated = dechunk(raw_exchange(server, CHAT))
    assert head.startswith(b"HTTP/1.1 200") and not terminated
    chunks_json = [json.loads(c[len(b"data: ") :]) for c in chunks]
    assert len(chunks_json) == 3  # role chunk + two content chunks
    assert [c["choices"][0]["delta"].get("content") for c in chunks_json[1:]] == TOKENS[:2]


def test_drop_mid_line_sends_half_an_event(server: LoopbackServer) -> None:
    server.script = Script(text=TEXT, fault=Fault("drop_mid_line", after=1))
    _, chunks, terminated = dechunk(raw_exchange(server, "/v1/messages"))
    assert not terminated
    assert all(c.endswith(b"\n\n") for c in chunks[:-1])
    assert not chunks[-1].endswith(b"\n") and chunks[-1].startswith(b"event: content_block_delta")


def test_slow_drip_sends_one_byte_per_chunk(server: LoopbackServer) -> None:
    server.script = Script(text=TEXT, fault=Fault("slow_drip", delay=0.0))
    _, chunks, terminated = dechunk(raw_exchange(server, "/api/chat"))
    assert terminated and len(chunks) > 100 and {len(c) for c in chunks} == {1}
    lines = ndjson(b"".join(chunks))
    assert "".join(line["message"]["content"] for line in lines) == TEXT


def test_slow_drip_delay_paces_bytes(server: LoopbackServer) -> None:
    server.script = Script(text="x", fault=Fault("slow_drip", delay=0.001))
    started = time.monotonic()
    _, chunks, terminated = dechunk(raw_exchange(server, "/api/generate"))
    assert terminated and len(chunks) * 0.001 <= time.monotonic() - started


def test_malformed_json_then_stream_goes_on(server: LoopbackServer) -> None:
    server.script = Script(text=TEXT, fault=Fault("malformed_json", after=1))
    events = sse_events(post(server, CHAT).content)
    assert events[-1] == (None, "[DONE]")
    broken = []
    for _, data in events[:-1]:
        try:
            json.loads(data)
        except ValueError:
            broken.append(data)
    assert broken == ['{"choices": [']
    good = [json.loads(d) for _, d in events[:-1] if d not in broken]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in good) == TEXT


def test_oversized_event_is_one_endless_line(server: LoopbackServer) -> None:
    server.script = Script(text=TEXT, fault=Fault("oversized_event", after=1, size=300_000))
    _, chunks, terminated = dechunk(raw_exchange(server, CHAT))
    assert not terminated
    body = b"".join(chunks)
    tail = body[body.rindex(b"\n\n") + 2 :]
    assert tail == b"data: " + b"x" * 300_000
    assert max(len(c) for c in chunks) <= 64 * 1024


def test_gzip_stream(server: LoopbackServer) -> None:
    server.script = Script(text=TEXT, fault=Fault("gzip"))
    with post(server, "/api/chat", stream=True) as r:
        assert r.headers["content-encoding"] == "gzip"
        compressed = r.raw.read(decode_content=False)
    lines = ndjson(gzip.decompress(compressed))
    assert "".join(line["message"]["content"] for line in lines) == TEXT
    lines = ndjson(post(server, "/api/chat").content)  # requests decodes it itself
    assert lines[-1]["done"] is True


def test_stall_then_stream_continues(server: LoopbackServer) -> None:
    server.script = Script(text=TEXT, fault=Fault("stall", after=2, seconds=0.3))
    started = time.monotonic()
    lines = ndjson(post(server, "/api/chat").content)
    assert time.monotonic() - started >= 0.3
    assert "".join(line["message"]["content"] for line in lines) == TEXT


def test_stop_releases_a_client_on_a_stalled_stream() -> None:
    server = LoopbackServer(Script(text=TEXT, fault=Fault("stall", after=2, seconds=30))).start()
    received: list[bytes] = []
    finished = threading.Event()

    def client() -> None:
        try:
            with post(server, CHAT, stream=True, timeout=10) as r:
                for chunk in r.iter_content(chunk_size=None):
                    received.append(chunk)
        except requests.RequestException:
            pass
        finished.set()

    thread = threading.Thread(target=client)
    thread.start()
    assert wait_until(lambda: b" there," in b"".join(received))
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.5
    assert finished.wait(2)
    thread.join(1)
    assert server.connections_open == 0
    server.stop()  # idempotent


def test_client_leaving_a_stall_closes_the_server_socket(server: LoopbackServer) -> None:
    server.script = Script(text=TEXT, fault=Fault("stall", after=1, seconds=30))
    with post(server, CHAT, stream=True) as r:
        chunks = r.iter_content(chunk_size=None)  # kept: a dropped generator closes the socket
        next(chunks)
        time.sleep(0.1)
        assert server.connections_open == 1
    assert wait_until(lambda: server.connections_open == 0, timeout=2)


def test_client_disconnect_mid_stream_is_quiet(
    server: LoopbackServer, capfd: pytest.CaptureFixture[str]
) -> None:
    server.script = Script(text="word " * 200, tokens_per_second=200)
    with post(server, CHAT, stream=True) as r:
        next(r.iter_content(chunk_size=None))
    assert wait_until(lambda: server.connections_open == 0, timeout=3)
    server.script = Script(text=TEXT, fault=Fault("oversized_event", size=8 * 1024 * 1024))
    with post(server, CHAT, stream=True) as r:
        next(r.iter_content(chunk_size=None))
    assert wait_until(lambda: server.connections_open == 0, timeout=3)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Error" not in err


def test_pacing_is_roughly_respected(server: LoopbackServer) -> None:
    server.script = Script(text=TEXT, tokens_per_second=20)  # 4 tokens: 3 gaps of 50 ms
    stamps = []
    with post(server, "/api/generate", stream=True) as r:
        for chunk in r.iter_content(chunk_size=None):
            if b'"done":false' in chunk:
                stamps.append(time.monotonic())
    assert len(stamps) == 4
    assert 0.14 <= stamps[-1] - stamps[0] < 1.0


def test_many_concurrent_streams(server: LoopbackServer) -> None:
    server.script = Script(text=TEXT, tokens_per_second=50)
    results: list[bool] = []

    def client() -> None:
        _, chunks, terminated = dechunk(raw_exchange(server, CHAT, timeout=10))
        results.append(terminated and chunks[-1] == b"data: [DONE]\n\n")

    threads = [threading.Thread(target=client) for _ in range(200)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [True] * 200
    assert server.connections_total == 200
    assert time.monotonic() - started < 8
    assert wait_until(lambda: server.connections_open == 0)


def test_pytest_fixture(loopback_server: LoopbackServer) -> None:  # noqa: F811
    assert post(loopback_server, "/api/chat").status_code == 200
    assert loopback_server.connections_total == 1
