"""Writers for Anthropic Messages, Gemini ``streamGenerateContent`` and Ollama.

Byte shapes follow WIRE-FORMATS.md sections 4-6 and the recordings under
``shared/fixtures/recorded/``: Anthropic pads its JSON with spaces before the
closing brace, Gemini frames events with CRLF and writes ``": "`` in its
JSON, Ollama writes one compact JSON object per line with ``<``, ``>`` and
``&`` escaped the way Go's encoder does.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from ._formats import (
    Context,
    Piece,
    WireFormat,
    anthropic_error_type,
    compact,
    parse_arguments,
    split_arguments,
    sse,
    status_word,
    tool_call_id,
)
from ._script import Fault, Script

__all__ = ["ANTHROPIC", "GEMINI", "OLLAMA_CHAT", "OLLAMA_GENERATE"]

_ANTHROPIC_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
_GEMINI_FINISH = {
    "stop": "STOP",
    "length": "MAX_TOKENS",
    "tool_calls": "STOP",
    "content_filter": "SAFETY",
}
_OLLAMA_DONE = {"stop": "stop", "length": "length", "tool_calls": "stop"}


# --- Anthropic -----------------------------------------------------------------------------


class _AnthropicWriter:
    """Builds the Messages event list, numbering content blocks as it goes."""

    def __init__(self, script: Script, ctx: Context) -> None:
        self.script = script
        self.ctx = ctx
        self.pieces: list[Piece] = []
        self.block = 0
        self.pinged = False

    def emit(self, payload: dict[str, Any], content: bool = False, final: bool = False) -> None:
        # Real streams pad the JSON with spaces before the last brace.
        text = compact(payload)
        text = text[:-1] + " " * (len(self.pieces) * 7 % 13) + "}"
        self.pieces.append(Piece(sse(payload, payload["type"], text=text), content, final))

    def start_block(self, block: dict[str, Any], content: bool = False) -> None:
        self.emit(
            {"type": "content_block_start", "index": self.block, "content_block": block}, content
        )
        if not self.pinged:
            self.pieces.append(Piece(sse(None, "ping", text='{"type": "ping"}')))
            self.pinged = True

    def delta(self, delta: dict[str, Any], content: bool = True) -> None:
        self.emit({"type": "content_block_delta", "index": self.block, "delta": delta}, content)

    def stop_block(self) -> None:
        self.emit({"type": "content_block_stop", "index": self.block})
        self.block += 1

    def render(self) -> list[Piece]:
        script, counts = self.script, self.script.usage_counts()
        message: dict[str, Any] = {
            "id": f"msg_loopback{self.ctx.number:06d}",
            "type": "message",
            "role": "assistant",
            "model": script.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
        }
        if counts is not None:
            message["usage"] = {
                "input_tokens": counts[0],
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 1,
            }
        self.emit({"type": "message_start", "message": message})
        if script.reasoning:
            self.start_block({"type": "thinking", "thinking": "", "signature": ""})
            for token in script.reasoning_tokens:
                self.delta({"type": "thinking_delta", "thinking": token})
            signature = base64.b64encode(f"loopback-signature-{self.ctx.number}".encode()).decode()
            self.delta({"type": "signature_delta", "signature": signature}, content=False)
            self.stop_block()
        if script.text or not script.tool_calls:
            self.start_block({"type": "text", "text": ""})
            for token in script.text_tokens:
                self.delta({"type": "text_delta", "text": token})
            self.stop_block()
        for k, call in enumerate(script.tool_calls):
            block = {"type": "tool_use", "id": tool_call_id(call, k, "toolu"), "name": call.name}
            self.start_block({**block, "input": {}}, content=True)
            for part in ["", *split_arguments(call.arguments)]:
                self.delta({"type": "input_json_delta", "partial_json": part})
            self.stop_block()
        stop = _ANTHROPIC_STOP.get(script.finish, script.finish)
        end: dict[str, Any] = {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
        }
        if counts is not None:
            end["usage"] = {"output_tokens": counts[1]}
        self.emit(end, final=True)
        self.emit({"type": "message_stop"})
        return self.pieces


def _anthropic_error_event(fault: Fault, ctx: Context, sent: int) -> bytes:
    error = {"type": anthropic_error_type(fault.status), "message": fault.message}
    return sse({"type": "error", "error": error}, "error")


# --- Gemini --------------------------------------------------------------------------------


def _gemini_event(payload: Any) -> bytes:
    return (
        b"data: "
        + json.dumps(payload, separators=(",", ": "), ensure_ascii=False).encode()
        + (b"\r\n\r\n")
    )


def _render_gemini(script: Script, ctx: Context) -> list[Piece]:
    counts = script.usage_counts()

    def chunk(parts: list[dict[str, Any]], produced: int, finish: str | None = None) -> bytes:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if finish is not None:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        body: dict[str, Any] = {"candidates": [candidate]}
        if counts is not None:
            # Usage is cumulative: the running count, exact on the last chunk.
            done = min(produced, counts[1]) if finish is None else counts[1]
            body["usageMetadata"] = {
                "promptTokenCount": counts[0],
                "candidatesTokenCount": done,
                "totalTokenCount": counts[0] + done,
            }
        body["modelVersion"] = script.model
        body["responseId"] = f"loopback{ctx.number:06d}"
        return _gemini_event(body)

    pieces = [
        Piece(chunk([{"text": t, "thought": True}], 0), True) for t in script.reasoning_tokens
    ]
    pieces += [
        Piece(chunk([{"text": t}], n), True) for n, t in enumerate(script.text_tokens, start=1)
    ]
    produced = len(script.text_tokens)
    for k, call in enumerate(script.tool_calls):
        function = {
            "name": call.name,
            "args": parse_arguments(call.arguments),
            "id": tool_call_id(call, k, "call"),
        }
        pieces.append(Piece(chunk([{"functionCall": function}], produced), True))
    finish = _GEMINI_FINISH.get(script.finish, script.finish)
    pieces.append(Piece(chunk([{"text": ""}], produced, finish), final=True))
    return pieces


def _gemini_error_event(fault: Fault, ctx: Context, sent: int) -> bytes:
    error = {"code": fault.status, "message": fault.message, "status": status_word(fault.status)}
    return _gemini_event({"error": error})


# --- Ollama --------------------------------------------------------------------------------


def _ndjson(payload: Any) -> bytes:
    text = compact(payload).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode() + b"\n"


def _timestamp(created: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime(created))


def _ollama_final(script: Script, ctx: Context) -> dict[str, Any]:
    final: dict[str, Any] = {
        "done_reason": _OLLAMA_DONE.get(script.finish, script.finish),
        "done": True,
        "total_duration": 1_000_000,
        "load_duration": 100_000,
    }
    counts = script.usage_counts()
    if counts is not None:
        final["prompt_eval_count"] = counts[0]
        final["prompt_eval_duration"] = 200_000
        final["eval_count"] = counts[1]
        final["eval_duration"] = 700_000
    return final


def _render_ollama_chat(script: Script, ctx: Context) -> list[Piece]:
    head = {"model": script.model, "created_at": _timestamp(ctx.created)}

    def line(message: dict[str, Any], **extra: Any) -> bytes:
        return _ndjson({**head, "message": {"role": "assistant", **message}, **extra})

    pieces = [
        Piece(line({"content": "", "thinking": t}, done=False), True)
        for t in script.reasoning_tokens
    ]
    pieces += [Piece(line({"content": t}, done=False), True) for t in script.text_tokens]
    for k, call in enumerate(script.tool_calls):
        function: dict[str, Any] = {"name": call.name, "arguments": parse_arguments(call.arguments)}
        if k:
            function = {"index": k, **function}
        tool_call: dict[str, Any] = {"function": function}
        if call.id is not None:
            tool_call = {"id": call.id, **tool_call}
        pieces.append(Piece(line({"content": "", "tool_calls": [tool_call]}, done=False), True))
    pieces.append(Piece(line({"content": ""}, **_ollama_final(script, ctx)), final=True))
    return pieces


def _render_ollama_generate(script: Script, ctx: Context) -> list[Piece]:
    head = {"model": script.model, "created_at": _timestamp(ctx.created)}
    pieces = [
        Piece(_ndjson({**head, "response": "", "thinking": t, "done": False}), True)
        for t in script.reasoning_tokens
    ]
    pieces += [
        Piece(_ndjson({**head, "response": t, "done": False}), True) for t in script.text_tokens
    ]
    final = {**head, "response": "", **_ollama_final(script, ctx), "context": [1, 2, 3]}
    pieces.append(Piece(_ndjson(final), final=True))
    return pieces


def _ollama_error_event(fault: Fault, ctx: Context, sent: int) -> bytes:
    return _ndjson({"error": fault.message})


ANTHROPIC = WireFormat(
    name="anthropic",
    content_type="text/event-stream; charset=utf-8",
    family="anthropic",
    render=lambda script, ctx: _AnthropicWriter(script, ctx).render(),
    error_event=_anthropic_error_event,
    malformed=b'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": {\n\n',
    oversized_prefix=b"event: content_block_delta\ndata: ",
)

GEMINI = WireFormat(
    name="gemini",
    content_type="text/event-stream",
    family="gemini",
    render=_render_gemini,
    error_event=_gemini_error_event,
    malformed=b'data: {"candidates": [\r\n\r\n',
    oversized_prefix=b"data: ",
)

_OLLAMA_COMMON: dict[str, Any] = {
    "content_type": "application/x-ndjson",
    "family": "ollama",
    "error_event": _ollama_error_event,
    "malformed": b'{"model": "demo-model", "message": {\n',
}

OLLAMA_CHAT = WireFormat(
    name="ollama-chat",
    render=_render_ollama_chat,
    oversized_prefix=b'{"message":{"role":"assistant","content":"',
    **_OLLAMA_COMMON,
)

OLLAMA_GENERATE = WireFormat(
    name="ollama-generate",
    render=_render_ollama_generate,
    oversized_prefix=b'{"response":"',
    **_OLLAMA_COMMON,
)
