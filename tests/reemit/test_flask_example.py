"""examples/flask_sse.py works: both endpoints, through Flask's test client
(Flask is in the test extra; it is not a dependency of the library)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

import streamactors as sa
from streamactors.sse import SSEDecoder
from streamactors.testing import LoopbackServer, Script

pytest.importorskip("flask")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flask_sse.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flask_sse_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(15)
def test_flask_example(loopback_server: LoopbackServer) -> None:
    loopback_server.script = Script(text="Hello from the loopback server")
    client = sa.Client(base_url=loopback_server.url("anthropic"), api_key="sk-test-key")
    app = _load().create_app("anthropic/claude-x", client)
    web = app.test_client()
    assert b"EventSource" in web.get("/").data

    r = web.get("/chat?q=hi")
    assert r.mimetype == "text/event-stream"
    decoder = SSEDecoder()
    events = decoder.feed(r.data) + decoder.close()
    assert "".join(json.loads(e.data).get("text", "") for e in events if e.event == "data") == (
        "Hello from the loopback server")
    assert events[-1].event == "finish"

    r = web.post("/v1/chat/completions", json={
        "model": "x", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    assert r.data.endswith(b"data: [DONE]\n\n")
    assert web.post("/v1/chat/completions", json={"messages": []}).status_code == 400
    assert [q.path for q in loopback_server.requests] == ["/v1/messages", "/v1/messages"]
