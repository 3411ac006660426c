"""The request of the OpenAI Responses API, written from the library's chat form.

Callers write messages and fields as for Chat Completions; here they become
Responses ``input`` items, ``instructions`` and the Responses fields (see
``RESPONSES`` in ``openai_fields.py``), so switching between the two APIs is
one argument. The normalized assistant message of ``StreamResult.to_message()``
comes back as a message item plus ``function_call`` items; the keys it
carries for other providers (``thinking_blocks``, ``extra_content``) have no
Responses form and are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError
from ._base import RequestInput
from ._fields import check_fields
from ._messages import content_parts, text_of
from .openai_fields import OMIT, RESPONSES, Translator, apply_fields

__all__ = ["build_body", "translate_messages"]

_NAME = "openai-responses"


def _user_part(part: Mapping[str, Any]) -> dict[str, Any]:
    """One chat content part of a user message as a Responses input part."""
    kind = part.get("type")
    if kind == "text":
        return {"type": "input_text", "text": part.get("text", "")}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        if not isinstance(url, str) or not url:
            raise ConfigurationError(f"{_NAME}: an image_url part needs a 'url'")
        detail = image.get("detail") if isinstance(image, Mapping) else None
        return {"type": "input_image", "image_url": url, "detail": detail or "auto"}
    if kind == "file":
        return {"type": "input_file", **dict(part.get("file") or {})}
    return dict(part)  # already a Responses part (input_text, input_image, input_file...)


def _function_call_item(call: Any) -> dict[str, Any]:
    """One chat ``tool_calls`` entry as a ``function_call`` item (its
    ``extra_content`` and other keys meant for other APIs are left out)."""
    if not isinstance(call, Mapping):
        raise ConfigurationError(f"{_NAME}: each tool call must be an object, got {call!r:.60}")
    fn = call.get("function")
    fn = fn if isinstance(fn, Mapping) else {}
    return {"type": "function_call", "call_id": call.get("id"), "name": fn.get("name"),
            "arguments": fn.get("arguments") or ""}


def _assistant_items(msg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An assistant chat message as a message item plus ``function_call`` items."""
    items: list[dict[str, Any]] = []
    parts = [
        {"type": "output_text", "text": p.get("text", "")} if p.get("type") == "text"
        else dict(p)  # refusal and output_text parts are the same in both APIs
        for p in content_parts(msg.get("content"), _NAME)
    ]
    if msg.get("refusal"):
        parts.append({"type": "refusal", "refusal": msg["refusal"]})
    if parts:
        items.append({"type": "message", "role": "assistant", "content": parts})
    items.extend(_function_call_item(call) for call in msg.get("tool_calls") or ())
    return items


def _item(msg: Any, instructions: str | None, items: list[Any], leading: list[str]) -> None:
    """Append the item(s) of one chat message (or gather a leading system text)."""
    if not isinstance(msg, Mapping):
        raise ConfigurationError(f"{_NAME}: each message must be an object")
    role = msg.get("role")
    if role in ("system", "developer"):
        text = text_of(msg.get("content"), _NAME)
        if instructions is None and not items:
            leading.append(text)
        else:
            items.append({"role": role, "content": text})
    elif role == "user":
        parts = [_user_part(p) for p in content_parts(msg.get("content"), _NAME)]
        items.append({"type": "message", "role": "user", "content": parts})
    elif role == "assistant":
        items.extend(_assistant_items(msg))
    elif role == "tool":
        items.append({"type": "function_call_output", "call_id": msg.get("tool_call_id"),
                      "output": text_of(msg.get("content"), _NAME)})
    elif role is None and "type" in msg:
        items.append(dict(msg))
    else:
        raise ConfigurationError(f"{_NAME} cannot send a message with role {role!r}")


def translate_messages(
    messages: Any, instructions: str | None
) -> tuple[list[Any], str | None]:
    """Chat messages as Responses ``input`` items and ``instructions``.

    Leading system/developer messages become ``instructions`` (joined by blank
    lines) unless the caller gave ``instructions`` explicitly; later ones stay
    in place as developer/system message items so the order is kept. Items
    already in Responses form (a ``type`` and no chat ``role``) pass through.
    """
    items: list[Any] = []
    leading: list[str] = []
    for msg in messages:
        _item(msg, instructions, items, leading)
    if leading:
        instructions = "\n\n".join(leading)
    return items, instructions


def _tools(tools: Any) -> list[Any]:
    """Chat function tools in the flat Responses form (others pass through)."""
    if not isinstance(tools, (list, tuple)):
        raise ConfigurationError(f"{_NAME}: tools must be a list, got {tools!r:.60}")
    out: list[Any] = []
    for tool in tools:
        if not isinstance(tool, Mapping):
            raise ConfigurationError(f"{_NAME}: each tool must be an object, got {tool!r:.60}")
        fn = tool.get("function")
        if isinstance(fn, Mapping) and tool.get("type") == "function":
            out.append({"type": "function", **dict(fn)})
        else:
            out.append(dict(tool))
    return out


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
        return {"type": "function", "name": choice["function"].get("name")}
    return choice


def _text_format(response_format: Any) -> dict[str, Any]:
    """Chat ``response_format`` as a Responses ``text.format``."""
    if not isinstance(response_format, Mapping):
        raise ConfigurationError(
            f"{_NAME}: response_format must be an object, got {response_format!r:.60}")
    if response_format.get("type") == "json_schema":
        schema = dict(response_format.get("json_schema") or {})
        return {"type": "json_schema", **schema}
    return dict(response_format)


def _logprobs(value: Any) -> Any:
    """Chat's ``logprobs: true`` is the Responses ``include`` entry of the
    text's log-probabilities."""
    return ["message.output_text.logprobs"] if value else OMIT


def _stream_options(value: Any) -> Any:
    """Chat's ``stream_options``: usage always comes, so ``include_usage:
    true`` goes; what the Responses API takes (``include_obfuscation``) stays."""
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{_NAME}: stream_options must be an object, got {value!r:.60}")
    if value.get("include_usage") is False:
        raise ConfigurationError(
            f"{_NAME} always sends usage; drop include_usage from stream_options")
    return {k: v for k, v in value.items() if k != "include_usage"}


_TRANSLATORS: dict[str, Translator] = {
    "tools": _tools,
    "tool_choice": _tool_choice,
    "response_format": _text_format,
    "logprobs": _logprobs,
    "stream_options": _stream_options,
}


def build_body(model: str, request: RequestInput) -> dict[str, Any]:
    """The Responses request body for ``request`` (see the module docstring).

    Raises:
        ConfigurationError: a field the Responses API cannot take (with what
            to use instead), a message it cannot carry, or two fields that
            disagree (``max_tokens`` and ``max_output_tokens``...).
    """
    if request.kind != "chat":
        raise ConfigurationError(f"{_NAME} serves chat requests only")
    params = {k: v for k, v in request.params.items() if k != "stream"}
    check_fields(_NAME, params, RESPONSES)
    items, instructions = translate_messages(request.messages, params.pop("instructions", None))
    body: dict[str, Any] = {"model": model, "input": items}
    if instructions is not None:
        body["instructions"] = instructions
    apply_fields(body, params, RESPONSES, _NAME, _TRANSLATORS)
    body["stream"] = True
    return body
