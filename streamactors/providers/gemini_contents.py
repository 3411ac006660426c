"""OpenAI-form conversations as Gemini ``contents`` and ``systemInstruction``.

Assistant turns become ``model`` turns, tool calls ``functionCall`` parts and
tool results ``functionResponse`` parts answered by function name (looked up
from the call id). Thought signatures come back where Gemini needs them: the
one on a tool call (``extra_content.google.thought_signature``, the
convention of Gemini's own OpenAI-compatible API) on its ``functionCall``
part, the one of the message (a signature that came on a text part) on the
message's last text part. Keys meant for other providers (Anthropic's
``thinking_blocks``...) are never read, so never sent.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigurationError
from ._messages import (
    content_parts,
    image_of,
    part_text,
    system_text,
    text_of,
    tool_call_function,
    tool_names_by_id,
)

__all__ = ["gemini_contents", "thought_signature"]

_NAME = "gemini"


def thought_signature(holder: Any) -> str | None:
    """The ``extra_content.google.thought_signature`` of a message or tool
    call entry, or None."""
    extra = holder.get("extra_content") if isinstance(holder, Mapping) else None
    google = extra.get("google") if isinstance(extra, Mapping) else None
    signature = google.get("thought_signature") if isinstance(google, Mapping) else None
    return signature if isinstance(signature, str) else None


def _user_parts(content: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for part in content_parts(content, _NAME):
        kind = part.get("type", "text")
        if kind == "text":
            text = part_text(part, _NAME)
            if text:
                parts.append({"text": text})
        elif kind == "image_url":
            image = image_of(part, _NAME)
            if image.data is not None:
                parts.append({"inlineData": {"mimeType": image.media_type, "data": image.data}})
            else:
                file_data: dict[str, Any] = {"fileUri": image.url}
                guessed = mimetypes.guess_type(image.url or "")[0]
                if guessed:
                    file_data["mimeType"] = guessed
                parts.append({"fileData": file_data})
        else:
            raise ConfigurationError(f"{_NAME}: content parts of type {kind!r} are not supported")
    return parts


def _call_part(call: Any) -> dict[str, Any]:
    _cid, name, args = tool_call_function(call, _NAME)
    part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
    # Thinking models need the signature back with its function call.
    signature = thought_signature(call)
    if signature is not None:
        part["thoughtSignature"] = signature
    return part


def _model_parts(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The parts of an assistant message: its text (carrying the message's
    thought signature, as a non-streamed answer would), then its calls."""
    parts = _user_parts(message.get("content"))
    signature = thought_signature(message)
    if signature is not None:
        texts = [p for p in parts if "text" in p]
        if texts:
            texts[-1]["thoughtSignature"] = signature
        else:  # an answer whose only text part was the empty one carrying it
            parts.append({"text": "", "thoughtSignature": signature})
    calls = message.get("tool_calls")
    parts.extend(_call_part(c) for c in (calls if isinstance(calls, Sequence) else ()))
    return parts


def _response_part(message: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    name = message.get("name")
    if not isinstance(name, str):
        cid = message.get("tool_call_id")
        name = names.get(cid) if isinstance(cid, str) else None
    if not name:
        raise ConfigurationError(
            f"{_NAME}: tool message for {message.get('tool_call_id')!r} answers no earlier "
            "tool call; Gemini needs the function name"
        )
    text = text_of(message.get("content"), _NAME)
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    response = value if isinstance(value, dict) else {"result": text}
    return {"functionResponse": {"name": name, "response": response}}


def gemini_contents(
    messages: Sequence[Mapping[str, Any]],
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """``(systemInstruction, contents)`` from OpenAI-form messages."""
    system, rest = system_text(messages, _NAME)
    names = tool_names_by_id(rest)
    contents: list[dict[str, Any]] = []
    for message in rest:
        role = message["role"]
        if role == "tool":
            role, parts = "user", [_response_part(message, names)]
        elif role == "user":
            parts = _user_parts(message.get("content"))
        else:
            role, parts = "model", _model_parts(message)
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    instruction = {"parts": [{"text": system}]} if system is not None else None
    return instruction, contents
