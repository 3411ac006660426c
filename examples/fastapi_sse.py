"""Serve a streamed LLM answer from FastAPI (ASGI), with ``to_sse_async``.

``astream`` delivers chunks to the event loop through a janus queue, so the
endpoint never blocks the loop; ``to_sse_async`` turns them into OpenAI-format
SSE bytes (or ``format="events"``). Leaving early (client disconnect) closes
the async iterator, which cancels the stream.

Run it (FastAPI and uvicorn are not dependencies of streamactors)::

    pip install fastapi uvicorn
    OPENAI_API_KEY=... uvicorn examples.fastapi_sse:app --port 8000
    curl -N "http://127.0.0.1:8000/chat?q=Tell+me+a+joke"
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from fastapi.responses import StreamingResponse

import streamactors as sa
from streamactors.sse import to_sse_async

MODEL = os.environ.get("MODEL", "openai/gpt-4o-mini")

app = FastAPI()


@app.get("/chat")
async def chat(q: str = "Hello", format: str = "events") -> StreamingResponse:
    chunks = sa.astream(MODEL, [{"role": "user", "content": q}])
    body = to_sse_async(chunks, format="openai" if format == "openai" else "events")
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})
