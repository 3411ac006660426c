"""Structured output through a forced tool, for providers without a JSON
answer format (Anthropic): the request gains one tool whose input schema is
the answer's schema, and the model is made to call it; the decoder wrapped
here turns that call back into answer text, so the stream, ``partials()`` and
``result.parsed`` look exactly as for a provider that answers in JSON.
"""

from __future__ import annotations

from typing import Any

from .._chunk import Chunk
from .._output import OutputSpec
from ..errors import ConfigurationError
from ._base import Continuation, StreamDecoder

__all__ = ["OutputToolDecoder", "output_tool"]

_DESCRIPTION = ("Give your answer by calling this tool: its input is the answer, in the "
                "required JSON structure.")


def output_tool(spec: OutputSpec, params: dict[str, Any], provider: str) -> dict[str, Any]:
    """The forced tool carrying ``spec`` (an OpenAI-form function tool, which
    the codec translates); ``tools`` and ``tool_choice`` must be absent, since
    the model is made to call this one."""
    for field in ("tools", "tool_choice"):
        if params.get(field):
            raise ConfigurationError(
                f"{provider}: response_format is sent as a tool the model must call, so "
                f"{field} cannot be given with it; drop {field}, or drop response_format and "
                "read the tool call yourself")
    return {"type": "function",
            "function": {"name": spec.name, "description": _DESCRIPTION,
                         "parameters": dict(spec.schema)}}


class OutputToolDecoder:
    """Wraps a codec's decoder: the fragments of the call of the output tool
    become answer text, and the call's finish reason ``tool_calls`` becomes
    ``stop``. Other tool calls pass as they are."""

    __slots__ = ("_indexes", "_inner", "_name", "_other_calls")

    def __init__(self, inner: StreamDecoder, name: str) -> None:
        self._inner = inner
        self._name = name
        self._indexes: set[int] = set()  # tool-call indexes of the output tool
        self._other_calls = False  # a call of another tool was seen

    @property
    def done(self) -> bool:
        return self._inner.done

    def continuation(self) -> Continuation:
        return self._inner.continuation()

    def feed(self, data: str, event: str = "message") -> list[Chunk]:
        chunks = self._inner.feed(data, event)
        for k, chunk in enumerate(chunks):
            if chunk.tool_calls or (chunk.finish_reason == "tool_calls" and self._indexes):
                chunks[k] = self._unwrap(chunk)
        return chunks

    def _unwrap(self, chunk: Chunk) -> Chunk:
        text: list[str] = []
        others = []
        for call in chunk.tool_calls:
            if call.name == self._name and call.index not in self._indexes:
                self._indexes.add(call.index)
            if call.index in self._indexes:
                text.append(call.arguments)
            else:
                others.append(call)
        self._other_calls = self._other_calls or bool(others)
        finish = chunk.finish_reason
        if finish == "tool_calls" and not self._other_calls and self._indexes:
            finish = "stop"
        joined = "".join(text)
        return chunk._replace(
            text=(chunk.text or "") + joined if joined or chunk.text else chunk.text,
            tool_calls=tuple(others), finish_reason=finish)
