"""Serve a streamed LLM answer to a browser from Flask, as server-sent events.

Two endpoints:

* ``GET /chat?q=...``: compact events (``event: data`` / ``finish`` / ``error``)
  that a page reads with ``EventSource``; ``GET /`` serves such a page.
* ``POST /v1/chat/completions``: the OpenAI streaming format, so any OpenAI
  client library can read it, whatever provider answers.

Run it (Flask is not a dependency of streamactors)::

    pip install flask
    OPENAI_API_KEY=... python examples/flask_sse.py        # or no key: demo server
    open http://127.0.0.1:5000/

With no provider key in the environment the example starts the loopback demo
server, so it works offline. If the browser goes away mid-answer, Flask closes
the generator and ``to_sse`` cancels the stream.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, request

import streamactors as sa
from streamactors.sse import to_sse

MODEL = os.environ.get("MODEL", "openai/gpt-4o-mini")

PAGE = """<!doctype html>
<meta charset="utf-8"><title>streamactors + Flask</title>
<form id="f"><input id="q" size="60" value="Tell me a joke"><button>Ask</button></form>
<pre id="out" style="white-space: pre-wrap"></pre>
<script>
document.getElementById("f").onsubmit = (e) => {
  e.preventDefault();
  const out = document.getElementById("out");
  out.textContent = "";
  const es = new EventSource("/chat?q=" + encodeURIComponent(document.getElementById("q").value));
  es.addEventListener("data", (ev) => { out.textContent += JSON.parse(ev.data).text || ""; });
  es.addEventListener("finish", (ev) => {
    const f = JSON.parse(ev.data);
    out.textContent += `\\n\\n[${f.finish_reason}, ${f.usage && f.usage.total_tokens} tokens]`;
    es.close();
  });
  es.addEventListener("error", (ev) => {
    if (ev.data) out.textContent += "\\n[error] " + JSON.parse(ev.data).message;
    es.close();
  });
};
</script>
"""

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def create_app(model: str = MODEL, client: sa.Client | None = None) -> Flask:
    """The Flask app; ``client`` defaults to one reading keys from the environment."""
    app = Flask(__name__)
    llm = client or sa.Client()

    @app.get("/")
    def index() -> str:
        return PAGE

    @app.get("/chat")
    def chat() -> Response:
        question = request.args.get("q", "Hello")
        handle = llm.chat(model, [{"role": "user", "content": question}])
        return Response(to_sse(handle, format="events"), mimetype="text/event-stream",
                        headers=SSE_HEADERS)

    @app.post("/v1/chat/completions")
    def completions() -> Any:
        body = request.get_json(force=True)
        if body.get("stream") is not True:
            return {"error": {"message": 'set "stream": true', "type": "invalid_request_error",
                              "param": "stream", "code": None}}, 400
        params = {k: v for k, v in body.items()
                  if k not in ("model", "messages", "stream", "stream_options")}
        handle = llm.chat(model, body["messages"], **params)
        usage = (body.get("stream_options") or {}).get("include_usage") is True
        return Response(to_sse(handle, include_usage=usage), mimetype="text/event-stream",
                        headers=SSE_HEADERS)

    return app


def main() -> None:
    from streamactors.router import configured_providers

    client = None
    if not configured_providers() and "MODEL" not in os.environ:
        from streamactors.testing import LoopbackServer, Script

        demo = LoopbackServer(Script(tokens_per_second=20)).start()
        client = sa.Client(base_url=demo.url("openai"), api_key="demo")
        print("no provider key set: answering from the loopback demo server")
    create_app(client=client).run(threaded=True)


if __name__ == "__main__":
    main()
