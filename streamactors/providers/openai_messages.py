"""Messages in the library's normalized form, made fit for one OpenAI-style API.

``StreamResult.to_message()`` writes, beside the OpenAI assistant message,
what another provider needs to continue: ``thinking_blocks`` (Anthropic) on
the message, ``extra_content`` (Gemini thought signatures) on the message and
on each tool call. OpenAI and OpenRouter answer 400, and Mistral 422, for
message keys they do not know, so those keys are dropped before sending. A
conversation that never met those providers has none of them, so the check
costs a set lookup per message and copies nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FOREIGN_TO_MISTRAL", "FOREIGN_TO_OPENAI", "ForeignKeys", "without_foreign_keys"]


@dataclass(frozen=True)
class ForeignKeys:
    """The keys one API does not take, on a message and on a tool call.

    Attributes:
        message: keys dropped from every message.
        tool_call: keys dropped from every entry of an assistant's ``tool_calls``.
        refusal_as_content: the API has no ``refusal`` key (it is in
            ``message``): a refusal becomes the content of a message that has
            none, so the assistant's turn is not sent empty.
    """

    message: frozenset[str]
    tool_call: frozenset[str]
    refusal_as_content: bool = False


#: Keys for Anthropic and Gemini that OpenAI's own API and OpenRouter refuse.
FOREIGN_TO_OPENAI = ForeignKeys(frozenset({"thinking_blocks", "extra_content"}),
                                frozenset({"extra_content"}))

#: Mistral takes only its own message fields (``role``, ``content``,
#: ``tool_calls``, ``prefix``, ``name``, ``tool_call_id``): no ``refusal`` either.
FOREIGN_TO_MISTRAL = ForeignKeys(frozenset({"thinking_blocks", "extra_content", "refusal"}),
                                 frozenset({"extra_content"}), refusal_as_content=True)


def without_foreign_keys(
    messages: Sequence[Mapping[str, Any]], keys: ForeignKeys
) -> list[Mapping[str, Any]]:
    """``messages`` as a new list holding the same message objects, except
    that a message carrying a key of ``keys`` is replaced by a copy without it
    (the caller's messages are never changed)."""
    out = list(messages)
    for i, message in enumerate(out):
        if isinstance(message, Mapping):
            cleaned = _clean(message, keys)
            if cleaned is not message:
                out[i] = cleaned
    return out


def _has_foreign_call(calls: Any, keys: ForeignKeys) -> bool:
    if type(calls) is not list:
        return False
    return any(isinstance(c, Mapping) and not keys.tool_call.isdisjoint(c) for c in calls)


def _clean(message: Mapping[str, Any], keys: ForeignKeys) -> Mapping[str, Any]:
    """``message`` itself when it is clean, else a cleaned copy."""
    calls = message.get("tool_calls")
    foreign_calls = _has_foreign_call(calls, keys)
    if keys.message.isdisjoint(message) and not foreign_calls:
        return message
    out = {k: v for k, v in message.items() if k not in keys.message}
    if foreign_calls and isinstance(calls, list):
        out["tool_calls"] = [
            {k: v for k, v in call.items() if k not in keys.tool_call}
            if isinstance(call, Mapping) else call
            for call in calls
        ]
    refusal = message.get("refusal")
    if keys.refusal_as_content and isinstance(refusal, str) and not message.get("content"):
        out["content"] = refusal
    return out
