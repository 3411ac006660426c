"""Forward a streamed LLM answer over a WebSocket, one JSON message per chunk.

The browser sends ``{"prompt": "..."}``; the server answers with
``{"type": "data", "text": ...}`` messages, then one ``{"type": "finish", ...}``
or ``{"type": "error", ...}``: the same three messages streamactors delivers,
so the page needs no SSE parsing. A ``{"type": "cancel"}`` from the browser, or
the socket closing, cancels the stream.

The stream is started with ``stream_to=`` a callable that hands each message
from the worker thread to the event loop with ``loop.call_soon_threadsafe``,
so the socket is only touched from the loop.

Run it (FastAPI and uvicorn with WebSocket support are not dependencies of
streamactors)::

    pip install fastapi "uvicorn[standard]"
    OPENAI_API_KEY=... uvicorn examples.websocket_forward:app --port 8000
    # then in a browser console:
    #   ws = new WebSocket("ws://127.0.0.1:8000/ws"); ws.onmessage = e => console.log(e.data)
    #   ws.onopen = () => ws.send(JSON.stringify({prompt: "Tell me a joke"}))
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

import streamactors as sa

MODEL = os.environ.get("MODEL", "openai/gpt-4o-mini")

app = FastAPI()


def to_json(message: sa.Message) -> dict[str, Any]:
    """One stream message as a small JSON object for the browser."""
    if isinstance(message, sa.Data):
        c = message.chunk
        out: dict[str, Any] = {"type": "data", "text": c.text or ""}
        if c.tool_calls:
            out["tool_calls"] = [t._asdict() for t in c.tool_calls]
        return out
    if isinstance(message, sa.Finish):
        r = message.result
        return {"type": "finish", "finish_reason": r.finish_reason,
                "usage": r.usage.to_openai() if r.usage else None,
                "time_to_first_token": r.time_to_first_token}
    return {"type": "error", "error": type(message.error).__name__,
            "message": str(message.error)}


@app.websocket("/ws")
async def ws_chat(ws: WebSocket) -> None:
    await ws.accept()
    loop = asyncio.get_running_loop()
    while True:
        try:
            request = await ws.receive_json()
        except WebSocketDisconnect:
            return
        inbox: asyncio.Queue[sa.Message] = asyncio.Queue()

        def deliver(message: sa.Message, put: Any = inbox.put_nowait) -> None:
            loop.call_soon_threadsafe(put, message)  # worker thread -> event loop

        prompt = str(request.get("prompt", ""))
        handle = sa.chat(MODEL, [{"role": "user", "content": prompt}], stream_to=deliver)
        # Anything the browser sends mid-answer (or its going away) cancels the stream.
        listener = asyncio.ensure_future(ws.receive_json())

        def cancel(_: object, h: sa.StreamHandle = handle) -> None:
            h.cancel()

        listener.add_done_callback(cancel)
        try:
            while True:
                message = await inbox.get()
                await ws.send_json(to_json(message))
                if not isinstance(message, sa.Data):
                    break
        except WebSocketDisconnect:
            handle.cancel()
            return
        finally:
            listener.cancel()
            with contextlib.suppress(BaseException):
                await listener
