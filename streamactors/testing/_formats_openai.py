"""Writers for OpenAI's stream formats: Chat Completions, Completions, Responses.

Chat Completions is also what Mistral, OpenRouter and other OpenAI-compatible
servers speak. Byte shapes follow WIRE-FORMATS.md sections 1-3 and the
recordings under ``shared/fixtures/recorded/openai-*``.
"""

from __future__ import annotations

from typing import Any

from ._formats import (
    Context,
    Piece,
    WireFormat,
    openai_error_object,
    split_arguments,
    sse,
    tool_call_id,
)
from ._script import Fault, Script

__all__ = ["CHAT", "COMPLETIONS", "RESPONSES"]

_SSE = "text/event-stream; charset=utf-8"
_DONE = Piece(b"data: [DONE]\n\n")


def _usage_object(script: Script, choices: int = 1) -> dict[str, int] | None:
    counts = script.usage_counts(choices)
    if counts is None:
        return None
    prompt, completion = counts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _render_chat(script: Script, ctx: Context) -> list[Piece]:
    head: dict[str, Any] = {
        "id": f"chatcmpl-loopback{ctx.number:06d}",
        "object": "chat.completion.chunk",
        "created": ctx.created,
        "model": script.model,
        "system_fingerprint": "fp_loopback",
    }

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        body = {**head, "choices": [choice]}
        if ctx.include_usage:
            body["usage"] = None
        return sse(body)

    choices = range(script.n)
    pieces = [
        Piece(chunk(i, {"role": "assistant", "content": "", "refusal": None})) for i in choices
    ]
    # Each content step goes to every choice in turn, which interleaves them.
    steps: list[dict[str, Any]] = [{"reasoning_content": t} for t in script.reasoning_tokens]
    steps += [{"content": t} for t in script.text_tokens]
    for k, call in enumerate(script.tool_calls):
        first = {
            "index": k,
            "id": tool_call_id(call, k, "call"),
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        steps.append({"tool_calls": [first]})
        steps += [
            {"tool_calls": [{"index": k, "function": {"arguments": part}}]}
            for part in split_arguments(call.arguments)
        ]
    pieces += [Piece(chunk(i, delta), content=True) for delta in steps for i in choices]
    pieces += [Piece(chunk(i, {}, script.finish), final=i == 0) for i in choices]
    usage = _usage_object(script, script.n)
    if ctx.include_usage and usage is not None:
        pieces.append(Piece(sse({**head, "choices": [], "usage": usage})))
    pieces.append(_DONE)
    return pieces


def _render_completions(script: Script, ctx: Context) -> list[Piece]:
    head: dict[str, Any] = {
        "id": f"cmpl-loopback{ctx.number:06d}",
        "object": "text_completion",
        "created": ctx.created,
        "model": script.model,
    }

    def chunk(text: str, finish: str | None = None) -> bytes:
        choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}
        return sse({**head, "choices": [choice]})

    pieces = [Piece(chunk(t), content=True) for t in script.text_tokens]
    finish = "stop" if script.finish == "tool_calls" else script.finish
    pieces.append(Piece(chunk("", finish), final=True))
    usage = _usage_object(script)
    if ctx.include_usage and usage is not None:
        pieces.append(Piece(sse({**head, "choices": [], "usage": usage})))
    pieces.append(_DONE)
    return pieces


def _chat_error_event(fault: Fault, ctx: Context, sent: int) -> bytes:
    return sse({"error": openai_error_object(fault.status, fault.message)})


class _ResponsesWriter:
    """Builds the Responses event list, numbering events as it goes."""

    def __init__(self, script: Script, ctx: Context) -> None:
        self.script = script
        self.ctx = ctx
        self.pieces: list[Piece] = []
        self.output: list[dict[str, Any]] = []

    def emit(self, kind: str, content: bool = False, final: bool = False, **fields: Any) -> None:
        payload = {"type": kind, **fields, "sequence_number": len(self.pieces)}
        self.pieces.append(Piece(sse(payload, kind), content, final))

    def response(self, status: str, usage: Any = None, incomplete: Any = None) -> dict[str, Any]:
        return {
            "id": f"resp_loopback{self.ctx.number:06d}",
            "object": "response",
            "created_at": self.ctx.created,
            "status": status,
            "error": None,
            "incomplete_details": incomplete,
            "model": self.script.model,
            "output": list(self.output) if status != "in_progress" else [],
            "usage": usage,
        }

    def reasoning_item(self) -> None:
        item_id = f"rs_loopback{self.ctx.number:06d}"
        where: dict[str, Any] = {
            "item_id": item_id,
            "output_index": len(self.output),
            "summary_index": 0,
        }
        item: dict[str, Any] = {"id": item_id, "type": "reasoning", "summary": []}
        self.emit("response.output_item.added", output_index=len(self.output), item=item)
        self.emit("response.reasoning_summary_part.added", **where, part=_summary(""))
        for token in self.script.reasoning_tokens:
            self.emit("response.reasoning_summary_text.delta", True, **where, delta=token)
        text = self.script.reasoning
        self.emit("response.reasoning_summary_text.done", **where, text=text)
        self.emit("response.reasoning_summary_part.done", **where, part=_summary(text))
        self.finish_item({**item, "summary": [_summary(text)]})

    def message_item(self) -> None:
        item_id = f"msg_loopback{self.ctx.number:06d}"
        where: dict[str, Any] = {
            "item_id": item_id,
            "output_index": len(self.output),
            "content_index": 0,
        }
        item: dict[str, Any] = {
            "id": item_id,
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        self.emit("response.output_item.added", output_index=len(self.output), item=item)
        self.emit("response.content_part.added", **where, part=_output_text(""))
        for token in self.script.text_tokens:
            self.emit("response.output_text.delta", True, **where, delta=token, logprobs=[])
        text = self.script.text
        self.emit("response.output_text.done", **where, text=text, logprobs=[])
        self.emit("response.content_part.done", **where, part=_output_text(text))
        self.finish_item({**item, "status": "completed", "content": [_output_text(text)]})

    def function_call_items(self) -> None:
        for k, call in enumerate(self.script.tool_calls):
            item_id = f"fc_loopback{self.ctx.number:06d}_{k}"
            index = len(self.output)
            item: dict[str, Any] = {
                "id": item_id,
                "type": "function_call",
                "status": "in_progress",
                "arguments": "",
                "call_id": tool_call_id(call, k, "call"),
                "name": call.name,
            }
            self.emit("response.output_item.added", True, output_index=index, item=item)
            for part in split_arguments(call.arguments):
                self.emit(
                    "response.function_call_arguments.delta",
                    True,
                    item_id=item_id,
                    output_index=index,
                    delta=part,
                )
            self.emit(
                "response.function_call_arguments.done",
                item_id=item_id,
                output_index=index,
                arguments=call.arguments,
            )
            self.finish_item({**item, "status": "completed", "arguments": call.arguments})

    def finish_item(self, item: dict[str, Any]) -> None:
        self.emit("response.output_item.done", output_index=len(self.output), item=item)
        self.output.append(item)

    def render(self) -> list[Piece]:
        script = self.script
        self.emit("response.created", response=self.response("in_progress"))
        self.emit("response.in_progress", response=self.response("in_progress"))
        if script.reasoning:
            self.reasoning_item()
        if script.text or not script.tool_calls:
            self.message_item()
        self.function_call_items()
        counts = script.usage_counts()
        usage = None
        if counts is not None:
            prompt, completion = counts
            usage = {
                "input_tokens": prompt,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": completion,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": prompt + completion,
            }
        finish = script.finish
        if finish in ("stop", "tool_calls"):
            response = self.response("completed", usage)
            self.emit("response.completed", final=True, response=response)
        else:
            reason = "max_output_tokens" if finish == "length" else finish
            response = self.response("incomplete", usage, {"reason": reason})
            self.emit("response.incomplete", final=True, response=response)
        return self.pieces


def _summary(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "text": text}


def _responses_error_event(fault: Fault, ctx: Context, sent: int) -> bytes:
    kind = openai_error_object(fault.status, fault.message)["type"]
    payload = {"type": "error", "code": kind, "message": fault.message, "param": None}
    return sse({**payload, "sequence_number": sent}, "error")


CHAT = WireFormat(
    name="openai-chat",
    content_type=_SSE,
    family="openai",
    render=_render_chat,
    error_event=_chat_error_event,
    malformed=b'data: {"choices": [\n\n',
    oversized_prefix=b"data: ",
)

COMPLETIONS = WireFormat(
    name="openai-completions",
    content_type=_SSE,
    family="openai",
    render=_render_completions,
    error_event=_chat_error_event,
    malformed=b'data: {"choices": [\n\n',
    oversized_prefix=b"data: ",
)

RESPONSES = WireFormat(
    name="openai-responses",
    content_type=_SSE,
    family="openai",
    render=lambda script, ctx: _ResponsesWriter(script, ctx).render(),
    error_event=_responses_error_event,
    malformed=b'event: response.output_text.delta\ndata: {"type": "response.output_text.delta"\n\n',
    oversized_prefix=b"event: response.output_text.delta\ndata: ",
)
