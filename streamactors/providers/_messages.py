"""Reading OpenAI-form messages, tools and tool choices for other wire formats.

Users write one conversation shape (OpenAI Chat Completions: ``system`` /
``developer`` / ``user`` / ``assistant`` / ``tool`` messages, content as a
string or a list of ``text`` / ``image_url`` parts, ``tool_calls`` on assistant
messages with JSON-string ``arguments``). The Anthropic, Gemini and Ollama
codecs translate it into their own shapes; the pieces of reading that they
share live here as pure functions. Anything that cannot be translated is a
``ConfigurationError`` raised before any request, never a silent drop.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, NamedTuple

from ..errors import ConfigurationError
from ._base import RequestInput

__all__ = [
    "OPENAI_ONLY",
    "ROLES",
    "FunctionTool",
    "ImageRef",
    "ToolChoice",
    "check_n",
    "content_parts",
    "dumps_arguments",
    "function_tool",
    "image_of",
    "max_output_tokens",
    "parse_arguments",
    "parse_tool_choice",
    "request_messages",
    "response_schema",
    "stop_sequences",
    "system_text",
    "text_of",
    "tool_call_function",
    "tool_names_by_id",
]

#: The message roles the translators understand.
ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


def content_parts(content: Any, provider: str) -> list[Mapping[str, Any]]:
    """``content`` as a list of parts: a string is one ``text`` part, None none."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if isinstance(content, Sequence):
        parts: list[Mapping[str, Any]] = []
        for part in content:
            if isinstance(part, str):
                parts.append({"type": "text", "text": part})
            elif isinstance(part, Mapping):
                parts.append(part)
            else:
                raise ConfigurationError(
                    f"{provider}: a content part must be an object or a string, got {part!r}"
                )
        return parts
    raise ConfigurationError(
        f"{provider}: message content must be a string, a list of parts or None, "
        f"got {type(content).__name__}"
    )


def part_text(part: Mapping[str, Any], provider: str) -> str:
    """The string of a ``text`` content part; ``ConfigurationError`` otherwise."""
    text = part.get("text")
    if not isinstance(text, str):
        raise ConfigurationError(f"{provider}: a text part needs a string 'text'")
    return text


def text_of(content: Any, provider: str, sep: str = "\n") -> str:
    """The text of ``content``; only ``text`` parts are allowed.

    Used where the target accepts nothing but text (system prompts, tool
    results for most providers).
    """
    texts: list[str] = []
    for part in content_parts(content, provider):
        kind = part.get("type", "text")
        if kind != "text":
            raise ConfigurationError(
                f"{provider}: only text parts are allowed here, got a {kind!r} part"
            )
        texts.append(part_text(part, provider))
    return sep.join(texts)


def system_text(
    messages: Sequence[Mapping[str, Any]], provider: str
) -> tuple[str | None, list[Mapping[str, Any]]]:
    """The ``system``/``developer`` messages joined by blank lines, and the
    other messages in order (roles checked)."""
    system: list[str] = []
    rest: list[Mapping[str, Any]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise ConfigurationError(f"{provider}: message {i} is not an object")
        role = message.get("role")
        if role not in ROLES:
            raise ConfigurationError(
                f"{provider}: message {i} has role {role!r}; expected one of "
                f"{', '.join(sorted(ROLES))}"
            )
        if role in ("system", "developer"):
            text = text_of(message.get("content"), provider)
            if text:
                system.append(text)
        else:
            rest.append(message)
    return ("\n\n".join(system) if system else None), rest


class ImageRef(NamedTuple):
    """An image part: a URL, or base64 ``data`` with its ``media_type``."""

    url: str | None
    media_type: str | None
    data: str | None


def image_of(part: Mapping[str, Any], provider: str) -> ImageRef:
    """The image of an ``image_url`` part; ``data:`` URLs are split into media
    type and base64 data (other data URL encodings are refused)."""
    ref = part.get("image_url")
    url = ref.get("url") if isinstance(ref, Mapping) else ref
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"{provider}: an image_url part needs a 'url'")
    if not url.startswith("data:"):
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"{provider}: image URLs must be http(s) or data: URLs, got {url[:40]!r}"
            )
        return ImageRef(url, None, None)
    header, sep, data = url[5:].partition(",")
    fields = header.split(";")
    if not sep or "base64" not in fields[1:]:
        raise ConfigurationError(f"{provider}: a data: image URL must be base64-encoded")
    if not data:
        raise ConfigurationError(f"{provider}: the data: image URL has no data")
    return ImageRef(None, fields[0] or "image/png", data)


def parse_arguments(arguments: Any, provider: str) -> dict[str, Any]:
    """A tool call's arguments as an object (JSON text or an object given)."""
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, Mapping):
        return dict(arguments)
    if isinstance(arguments, str):
        try:
            value = json.loads(arguments)
        except ValueError:
            raise ConfigurationError(
                f"{provider}: tool call arguments are not valid JSON: {arguments[:80]!r}"
            ) from None
        if isinstance(value, dict):
            return value
    raise ConfigurationError(
        f"{provider}: tool call arguments must be a JSON object, got {arguments!r:.80}"
    )


def dumps_arguments(arguments: Any) -> str:
    """Whole-object arguments (Gemini, Ollama) as the JSON text a stream of
    OpenAI fragments would have added up to; a string is kept as it is."""
    if isinstance(arguments, str):
        return arguments
    if arguments is None:
        return "{}"
    return json.dumps(arguments, ensure_ascii=False)


def tool_call_function(call: Any, provider: str) -> tuple[str | None, str, dict[str, Any]]:
    """``(id, name, arguments object)`` of one assistant ``tool_calls`` entry."""
    if not isinstance(call, Mapping):
        raise ConfigurationError(f"{provider}: a tool call must be an object")
    fn = call.get("function")
    if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
        raise ConfigurationError(f"{provider}: a tool call needs function.name")
    cid = call.get("id")
    return (cid if isinstance(cid, str) else None), fn["name"], parse_arguments(
        fn.get("arguments"), provider
    )


def tool_names_by_id(messages: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Tool-call id -> function name, from the assistant messages' ``tool_calls``
    (providers that answer tool results by name need it)."""
    names: dict[str, str] = {}
    for message in messages:
        if not isinstance(message, Mapping) or message.get("role") != "assistant":
            continue
        for call in _iter_calls(message.get("tool_calls")):
            fn = call.get("function")
            cid = call.get("id")
            if isinstance(cid, str) and isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
                names[cid] = fn["name"]
    return names


def _iter_calls(calls: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(calls, Sequence) and not isinstance(calls, str):
        for call in calls:
            if isinstance(call, Mapping):
                yield call


class FunctionTool(NamedTuple):
    """An OpenAI ``{"type": "function", "function": {...}}`` tool, read."""

    name: str
    description: str | None
    parameters: Mapping[str, Any] | None


def function_tool(tool: Any, provider: str) -> FunctionTool | None:
    """The function of an OpenAI function tool; None for any other shape
    (a provider-native tool the caller may pass through or refuse)."""
    if not isinstance(tool, Mapping):
        raise ConfigurationError(f"{provider}: each tool must be an object")
    if tool.get("type") != "function":
        return None
    fn = tool.get("function")
    if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) or not fn["name"]:
        raise ConfigurationError(f"{provider}: a function tool needs function.name")
    description = fn.get("description")
    parameters = fn.get("parameters")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise ConfigurationError(f"{provider}: function.parameters must be a JSON schema object")
    return FunctionTool(
        fn["name"], description if isinstance(description, str) else None, parameters
    )


class ToolChoice(NamedTuple):
    """An OpenAI ``tool_choice``, read: ``mode`` and, for ``function``, ``name``."""

    mode: Literal["auto", "none", "required", "function"]
    name: str | None = None


def parse_tool_choice(choice: Any, provider: str) -> ToolChoice:
    """Read ``"auto"``, ``"none"``, ``"required"`` or
    ``{"type": "function", "function": {"name": ...}}``."""
    if choice == "auto":
        return ToolChoice("auto")
    if choice == "none":
        return ToolChoice("none")
    if choice == "required":
        return ToolChoice("required")
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else None
        if isinstance(name, str) and name:
            return ToolChoice("function", name)
    raise ConfigurationError(
        f"{provider}: tool_choice must be 'auto', 'none', 'required' or "
        f"{{'type': 'function', 'function': {{'name': ...}}}}, got {choice!r}"
    )


def stop_sequences(stop: Any, provider: str) -> list[str]:
    """``stop`` (a string or a list of strings) as a list."""
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, Sequence) and all(isinstance(s, str) for s in stop):
        return list(stop)
    raise ConfigurationError(f"{provider}: stop must be a string or a list of strings")


def max_output_tokens(params: Mapping[str, Any], provider: str) -> int | None:
    """``max_completion_tokens`` or ``max_tokens`` (they must agree if both given)."""
    a = params.get("max_completion_tokens")
    b = params.get("max_tokens")
    if a is not None and b is not None and a != b:
        raise ConfigurationError(
            f"{provider}: max_tokens ({b}) and max_completion_tokens ({a}) disagree; give one"
        )
    value = a if a is not None else b
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{provider}: max_tokens must be a positive integer")
    return value


#: OpenAI parameters none of the Anthropic, Gemini and Ollama APIs can take.
OPENAI_ONLY = (
    "audio", "function_call", "functions", "logit_bias", "logprobs", "modalities",
    "prediction", "top_logprobs",
)


def request_messages(request: RequestInput, provider: str) -> Sequence[Mapping[str, Any]]:
    """The conversation of ``request``: its messages, or for a ``completion``
    request on a chat-only API, its prompt as one user message."""
    if request.kind != "completion":
        return request.messages
    if request.prompt is None:
        raise ConfigurationError(f"{provider}: a completion request needs a prompt")
    return [{"role": "user", "content": request.prompt}]


def check_n(params: Mapping[str, Any], provider: str) -> None:
    """Refuse ``n`` other than 1 (one answer per stream)."""
    n = params.get("n")
    if n not in (None, 1):
        raise ConfigurationError(f"{provider} does not support n > 1 (got n={n!r})")


def response_schema(fmt: Any, provider: str) -> Mapping[str, Any] | bool | None:
    """Read an OpenAI ``response_format``: None for text, True for any JSON
    object, or the JSON schema of a ``json_schema`` format."""
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return True
    spec = fmt.get("json_schema") if kind == "json_schema" else None
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    if isinstance(schema, Mapping):
        return schema
    raise ConfigurationError(
        f"{provider}: response_format must be {{'type': 'text' | 'json_object'}} or "
        f"{{'type': 'json_schema', 'json_schema': {{'schema': ...}}}}, got {fmt!r:.80}"
    )
