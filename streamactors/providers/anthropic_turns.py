"""OpenAI-form conversations as Messages API turns (the Anthropic codec).

System/developer messages become ``system``; assistant ``tool_calls`` become
``tool_use`` blocks; an assistant message's ``thinking_blocks`` (what
``StreamResult.to_message()`` puts there from the decoder's continuation)
become the first content blocks of its turn, as the API requires when a turn
that used tools with extended thinking is sent back; ``tool`` messages become
``tool_result`` blocks in a user turn; consecutive turns of one role are
merged (the API wants user/assistant alternation). Keys meant for other
providers (Gemini's ``extra_content`` on a message or a tool call) are
dropped: the Messages API answers 400 to a field it does not know.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigurationError
from ._messages import content_parts, image_of, part_text, system_text, tool_call_function

__all__ = ["anthropic_messages"]

_NAME = "anthropic"

#: Content block types of the Messages API passed through unchanged when a
#: caller writes them natively in a content list.
_NATIVE_BLOCKS = frozenset({"image", "document", "thinking", "redacted_thinking", "tool_use",
                            "tool_result", "search_result"})

_THINKING_SHAPE = ("{'type': 'thinking', 'thinking': str, 'signature': str} or "
                   "{'type': 'redacted_thinking', 'data': str}")


def _image_block(part: Mapping[str, Any]) -> dict[str, Any]:
    image = image_of(part, _NAME)
    if image.data is not None:
        source = {"type": "base64", "media_type": image.media_type, "data": image.data}
    else:
        source = {"type": "url", "url": image.url}
    return {"type": "image", "source": source}


def _content_blocks(content: Any) -> list[dict[str, Any]]:
    """Anthropic content blocks for OpenAI-form content."""
    out: list[dict[str, Any]] = []
    for part in content_parts(content, _NAME):
        kind = part.get("type", "text")
        if kind == "text":
            text = part_text(part, _NAME)
            if text:
                block: dict[str, Any] = {"type": "text", "text": text}
                if "cache_control" in part:
                    block["cache_control"] = part["cache_control"]
                out.append(block)
        elif kind == "image_url":
            out.append(_image_block(part))
        elif kind in _NATIVE_BLOCKS:
            out.append(dict(part))
        else:
            raise ConfigurationError(f"{_NAME}: content parts of type {kind!r} are not supported")
    return out


def _tool_result(message: Mapping[str, Any]) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise ConfigurationError(f"{_NAME}: a tool message needs its tool_call_id")
    content = message.get("content")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    if content is not None:
        block["content"] = content if isinstance(content, str) else _content_blocks(content)
    return block


def _thinking_block(block: Any) -> dict[str, Any]:
    """One entry of ``thinking_blocks`` as the content block the API wants
    back (only its own keys, so nothing unknown reaches the API)."""
    kind = block.get("type") if isinstance(block, Mapping) else None
    if kind == "thinking":
        text, signature = block.get("thinking"), block.get("signature")
        if isinstance(text, str) and isinstance(signature, str):
            return {"type": "thinking", "thinking": text, "signature": signature}
    elif kind == "redacted_thinking" and isinstance(block.get("data"), str):
        return {"type": "redacted_thinking", "data": block["data"]}
    raise ConfigurationError(
        f"{_NAME}: each entry of an assistant message's thinking_blocks must be "
        f"{_THINKING_SHAPE} (as StreamResult.to_message() builds them), got {block!r:.80}"
    )


def _thinking_blocks(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``thinking_blocks`` of an assistant message, in order."""
    blocks = message.get("thinking_blocks")
    if blocks is None:
        return []
    if isinstance(blocks, (str, bytes)) or not isinstance(blocks, Sequence):
        raise ConfigurationError(
            f"{_NAME}: an assistant message's thinking_blocks must be a list of "
            f"{_THINKING_SHAPE}, got {type(blocks).__name__}"
        )
    return [_thinking_block(block) for block in blocks]


def _assistant_blocks(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Thinking first, then text, then tool calls: the order the API checks
    when a turn that used tools with extended thinking is sent back."""
    blocks = _thinking_blocks(message)
    blocks.extend(_content_blocks(message.get("content")))
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, Sequence) else ():
        cid, name, args = tool_call_function(call, _NAME)
        blocks.append({"type": "tool_use", "id": cid, "name": name, "input": args})
    return blocks


def anthropic_messages(
    messages: Sequence[Mapping[str, Any]],
) -> tuple[str | None, list[dict[str, Any]]]:
    """``(system, messages)`` in Messages API form from OpenAI-form messages."""
    system, rest = system_text(messages, _NAME)
    out: list[dict[str, Any]] = []
    for message in rest:
        role = message["role"]
        if role == "tool":
            role, blocks = "user", [_tool_result(message)]
        elif role == "user":
            blocks = _content_blocks(message.get("content"))
        else:
            blocks = _assistant_blocks(message)
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return system, out
