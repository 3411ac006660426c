"""What a stream adds up to: ``StreamResult`` and its parts."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from ._chunk import Usage
from ._gaps import GapSummary

__all__ = ["Choice", "StreamResult", "ToolCall"]


class ToolCall(BaseModel):
    """A tool call reassembled from its fragments.

    ``arguments`` is the JSON text exactly as streamed ("" when the tool takes
    no arguments; possibly invalid JSON when the answer was cut by ``length``).
    """

    model_config = ConfigDict(frozen=True)

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    type: str = "function"
    #: validates the arguments, when ``tools=`` gave the tool as a Pydantic
    #: model or a function (``ToolSpec.validate``, set when the stream ends)
    _validate: Callable[[str], Any] | None = PrivateAttr(default=None)

    def parsed_arguments(self) -> Any:
        """The arguments decoded from JSON ({} for an empty string); for a tool
        given as a Pydantic model, validated into an instance of it; for a
        function, validated against its signature into a dict to call it with
        (``fn(**call.parsed_arguments())``).

        Raises:
            ValueError: the arguments are not valid JSON; for a tool given as
                a model or a function, ``OutputValidationError`` (a
                ``ValueError``) also when they do not match it.
        """
        text = self.arguments if self.arguments.strip() else "{}"
        if self._validate is not None:
            return self._validate(text)
        return json.loads(text)

    def __eq__(self, other: object) -> bool:
        # The fields only: a call that learnt its tool's model is the same call.
        if not isinstance(other, ToolCall):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((self.index, self.id, self.name, self.arguments, self.type))

    def to_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "function": {"name": self.name, "arguments": self.arguments},
        }


class Choice(BaseModel):
    """One choice of the answer (there are ``n`` when ``n > 1``)."""

    model_config = ConfigDict(frozen=True)

    index: int = 0
    text: str = ""
    reasoning: str = ""
    refusal: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    native_finish_reason: str | None = None
    logprobs: tuple[Any, ...] | None = None

    def to_openai(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": self.text if (self.text or not self.tool_calls) else None,
            "refusal": self.refusal,
        }
        if self.tool_calls:
            message["tool_calls"] = [tc.to_openai() for tc in self.tool_calls]
        return {
            "index": self.index,
            "message": message,
            "logprobs": {"content": list(self.logprobs)} if self.logprobs else None,
            "finish_reason": self.finish_reason,
        }


class StreamResult(BaseModel):
    """Everything a stream delivered, folded together.

    The top-level ``text``, ``reasoning``, ``refusal``, ``tool_calls`` and
    finish reasons are those of choice 0; ``choices`` has one entry per ``n``.
    A partial result (attached to an error) has ``finish_reason`` None unless
    the provider had sent one: a cut stream is never made to look finished.
    """

    model_config = ConfigDict(frozen=True)

    id: str | None = None
    model: str | None = None
    provider: str | None = None
    created: int | None = None
    choices: tuple[Choice, ...] = (Choice(),)
    usage: Usage | None = None
    #: Seconds from sending the request to the first chunk carrying a token
    #: (text, reasoning, tool call, refusal or finish; not a role-only chunk).
    time_to_first_token: float | None = None
    #: Seconds from sending the request to the end of the stream.
    duration: float | None = None
    #: How many chunks were delivered.
    chunks: int = 0
    #: How many times the request was retried before data flowed.
    retries: int = 0
    #: The router route that served the stream, when a router was used.
    route: str | None = None
    #: What the provider needs back to continue the conversation beside text
    #: and tool calls (Anthropic thinking blocks and their signatures, Gemini
    #: thought signatures): ``{"message": {...}, "tool_calls": {id: {...}}}``.
    #: ``to_message()`` puts it where the library's codecs read it.
    continuation: dict[str, Any] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)
    #: How evenly the content arrived: the gaps between its deliveries
    #: (None before the second one).
    gaps: GapSummary | None = None
    #: The answer of a stream started with ``response_format`` as a model
    #: class or a schema, validated: a model instance (or the JSON value for
    #: a schema). None otherwise, and for a refusal or a tool call.
    parsed: Any = None

    @property
    def _first(self) -> Choice:
        return self.choices[0] if self.choices else Choice()

    @property
    def text(self) -> str:
        return self._first.text

    @property
    def reasoning(self) -> str:
        return self._first.reasoning

    @property
    def refusal(self) -> str | None:
        return self._first.refusal

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return self._first.tool_calls

    @property
    def finish_reason(self) -> str | None:
        return self._first.finish_reason

    @property
    def native_finish_reason(self) -> str | None:
        return self._first.native_finish_reason

    @property
    def output_tokens_per_second(self) -> float | None:
        """Completion tokens per second of generation (after the first token)."""
        if self.usage is None or not self.usage.completion_tokens:
            return None
        if self.duration is None or self.time_to_first_token is None:
            return None
        gen = self.duration - self.time_to_first_token
        if gen <= 0:
            return None
        return self.usage.completion_tokens / gen

    def to_message(self) -> dict[str, Any]:
        """The assistant message of this answer (choice 0), to append to the
        conversation for the next turn of a tool loop.

        It is an OpenAI-form message (``content``, ``tool_calls`` with JSON
        ``arguments``) plus what the provider needs to continue
        (``thinking_blocks`` for Anthropic, ``extra_content`` on each tool
        call for Gemini). Every codec of the library reads this form back,
        and drops the parts meant for another provider, so the same list of
        messages can go to any provider.
        """
        choice = self._first
        message: dict[str, Any] = {
            "role": "assistant",
            "content": choice.text if (choice.text or not choice.tool_calls) else None,
        }
        extra_calls = self.continuation.get("tool_calls") or {}
        if choice.tool_calls:
            calls = []
            for tc in choice.tool_calls:
                call = tc.to_openai()
                more = extra_calls.get(tc.id) if tc.id is not None else None
                if more:
                    call.update(more)
                calls.append(call)
            message["tool_calls"] = calls
        if choice.refusal:
            message["refusal"] = choice.refusal
        message.update(self.continuation.get("message") or {})
        return message

    def to_chat_completion(self) -> dict[str, Any]:
        """The ``ChatCompletion`` object a non-streaming OpenAI call would return."""
        out: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created or 0,
            "model": self.model,
            "choices": [c.to_openai() for c in self.choices],
            "usage": self.usage.to_openai() if self.usage is not None else None,
        }
        return out
