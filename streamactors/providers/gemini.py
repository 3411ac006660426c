"""Google Gemini: ``POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse``.

Requests are written in OpenAI form and translated to ``contents`` (assistant
turns become ``model`` turns, tool calls ``functionCall`` parts, tool results
``functionResponse`` parts answered by function name), ``systemInstruction``,
``tools[].functionDeclarations``, ``toolConfig`` and ``generationConfig``.

Every SSE event is a whole ``GenerateContentResponse``. Text parts are deltas
(``thought: true`` ones are reasoning); function calls arrive whole, so each
becomes one complete ``ToolCallDelta`` numbered across the stream; usage is
cumulative; the last non-empty ``finishReason`` wins (old models send ``STOP``
on every chunk, and one was recorded correcting ``STOP`` to
``MALFORMED_FUNCTION_CALL`` in a later chunk).
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from .._chunk import Chunk, ToolCallDelta, Usage
from ..errors import (
    AuthenticationError,
    ConfigurationError,
    HTTPStatusError,
    ProtocolError,
    ProviderError,
)
from ._base import (
    Framing,
    HTTPRequest,
    ProviderConfig,
    RequestInput,
    Secret,
    build_status_error,
    decode_error_body,
    loads_event,
    reject_params,
)
from ._messages import (
    OPENAI_ONLY,
    content_parts,
    dumps_arguments,
    function_tool,
    image_of,
    max_output_tokens,
    parse_tool_choice,
    part_text,
    request_messages,
    response_schema,
    stop_sequences,
    system_text,
    text_of,
    tool_call_function,
    tool_names_by_id,
)

__all__ = ["GeminiDecoder", "GeminiProvider", "gemini_contents", "gemini_usage"]

_NAME = "gemini"

_FINISH = {
    "STOP": "stop", "MAX_TOKENS": "length",
    **dict.fromkeys(("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                     "IMAGE_SAFETY"), "content_filter"),
    **dict.fromkeys(("MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS"),
                    "error"),
}

#: OpenAI name -> generationConfig name.
_GENERATION = {
    "temperature": "temperature", "top_p": "topP", "top_k": "topK", "seed": "seed",
    "n": "candidateCount", "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}

_loads = loads_event


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def gemini_usage(um: Mapping[str, Any]) -> Usage:
    """A ``Usage`` from ``usageMetadata``: completion counts visible and
    thinking tokens (``candidatesTokenCount + thoughtsTokenCount``)."""
    prompt = _int(um.get("promptTokenCount"))
    thoughts = _int(um.get("thoughtsTokenCount"))
    completion = (_int(um.get("candidatesTokenCount")) or 0) + (thoughts or 0)
    total = _int(um.get("totalTokenCount"))
    if total is None and prompt is not None:
        total = prompt + completion
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total,
                 reasoning_tokens=thoughts, cached_tokens=_int(um.get("cachedContentTokenCount")),
                 raw=dict(um))


def _error_fields(err: Any) -> tuple[str | None, str | None, str | int | None]:
    """``(message, status, code)`` of a Google error object; ``code`` is the
    ``ErrorInfo`` reason (``API_KEY_INVALID``...) when given, else the number."""
    if not isinstance(err, Mapping):
        return (err if isinstance(err, str) else None), None, None
    message = err.get("message")
    status = err.get("status")
    code: str | int | None = err.get("code") if isinstance(err.get("code"), (int, str)) else None
    for detail in err.get("details") or ():
        if isinstance(detail, Mapping) and isinstance(detail.get("reason"), str):
            code = detail["reason"]
            break
    return (message if isinstance(message, str) else None,
            status if isinstance(status, str) else None, code)


def _retry_delay(err: Any) -> float | None:
    """``RetryInfo.retryDelay`` (a protobuf Duration such as ``"31s"``) in seconds."""
    for detail in (err.get("details") or ()) if isinstance(err, Mapping) else ():
        delay = detail.get("retryDelay") if isinstance(detail, Mapping) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                return None
    return None


class GeminiDecoder:
    """Decodes the ``GenerateContentResponse`` events of one stream.

    Usage rides on the first chunk, on every chunk carrying a finish reason and
    on every chunk after one (so a corrected finish keeps the final counts);
    in between it is not rebuilt, to keep per-event work small.
    """

    __slots__ = ("_calls", "_finished", "_started")

    def __init__(self) -> None:
        #: candidate index -> function calls seen so far
        self._calls: dict[Any, int] = {}
        self._started = False
        self._finished = False

    def feed(self, data: str, event: str = "message") -> list[Chunk]:
        try:
            obj = _loads(data)
        except ValueError:
            raise ProtocolError(f"{_NAME} sent an event that is not valid JSON",
                                payload=data) from None
        if type(obj) is list and len(obj) == 1:
            obj = obj[0]  # the array framing of a request made without alt=sse
        if type(obj) is not dict:
            raise ProtocolError(f"{_NAME} sent an event that is not a JSON object", payload=data)
        if "error" in obj:
            raise self._error(obj["error"], data)
        um = obj.get("usageMetadata")
        rid = obj.get("responseId")
        model = obj.get("modelVersion")
        candidates = obj.get("candidates")
        if not candidates:
            feedback = obj.get("promptFeedback")
            block = feedback.get("blockReason") if type(feedback) is dict else None
            if block:
                self._started = self._finished = True
                usage = gemini_usage(um) if type(um) is dict else None
                return [Chunk(None, None, (), "content_filter", block, usage, 0, obj, None,
                              rid, model)]
            if type(um) is dict and (self._finished or not self._started):
                self._started = True
                return [Chunk(usage=gemini_usage(um), raw=obj, id=rid, model=model)]
            return []
        out: list[Chunk] = []
        for cand in candidates:
            if type(cand) is not dict:
                continue
            chunk = self._candidate(cand, obj, rid, model)
            if chunk is not None:
                out.append(chunk)
        if out and type(um) is dict and (not self._started or self._finished):
            out[-1] = out[-1]._replace(usage=gemini_usage(um))
        if out:
            self._started = True
        return out

    def _candidate(self, cand: dict[str, Any], obj: dict[str, Any], rid: Any,
                   model: Any) -> Chunk | None:
        index = cand.get("index", 0)
        content = cand.get("content")
        parts = content.get("parts") if type(content) is dict else None
        text: str | None = None
        reasoning: str | None = None
        calls: tuple[ToolCallDelta, ...] = ()
        signed = False
        if parts:
            texts: list[str] = []
            thoughts: list[str] = []
            found: list[ToolCallDelta] = []
            for part in parts:
                if type(part) is not dict:
                    continue
                t = part.get("text")
                if t and type(t) is str:
                    (thoughts if part.get("thought") else texts).append(t)
                fc = part.get("functionCall")
                if type(fc) is dict:
                    found.append(self._call(index, fc))
                if "thoughtSignature" in part:
                    signed = True
            text = "".join(texts) or None
            reasoning = "".join(thoughts) or None
            calls = tuple(found)
        native = cand.get("finishReason") or None
        finish = None
        if native:
            self._finished = True
            finish = _FINISH.get(native, "other")
            if finish == "stop" and index in self._calls:
                finish = "tool_calls"
        if text is None and reasoning is None and not calls and not native and not signed:
            return None
        return Chunk(text, reasoning, calls, finish, native, None, index, obj, None, rid, model)

    def _call(self, index: Any, fc: dict[str, Any]) -> ToolCallDelta:
        k = self._calls.get(index, 0)
        self._calls[index] = k + 1
        cid = fc.get("id")
        if not cid or type(cid) is not str:
            cid = f"call_{k}" if not index else f"call_{index}_{k}"
        return ToolCallDelta(k, cid, fc.get("name"), dumps_arguments(fc.get("args")))

    @staticmethod
    def _error(err: Any, data: str) -> ProviderError:
        message, status, code = _error_fields(err)
        return ProviderError(
            f"{_NAME} reported an error mid-stream: {status or 'error'}: {message}",
            provider_message=message, type=status, code=code, body=data, provider=_NAME,
        )


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
    # Gemini's OpenAI-compatible API carries thought signatures here; thinking
    # models need them back with their function calls.
    extra = call.get("extra_content") if isinstance(call, Mapping) else None
    google = extra.get("google") if isinstance(extra, Mapping) else None
    signature = google.get("thought_signature") if isinstance(google, Mapping) else None
    if isinstance(signature, str):
        part["thoughtSignature"] = signature
    return part


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
            role = "model"
            parts = _user_parts(message.get("content"))
            calls = message.get("tool_calls")
            parts.extend(_call_part(c) for c in (calls if isinstance(calls, Sequence) else ()))
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    instruction = {"parts": [{"text": system}]} if system is not None else None
    return instruction, contents


def _declarations(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, Sequence):
        raise ConfigurationError(f"{_NAME}: tools must be a list")
    declarations: list[dict[str, Any]] = []
    native: list[dict[str, Any]] = []
    for tool in tools:
        fn = function_tool(tool, _NAME)
        if fn is None:
            native.append(dict(tool))  # googleSearch, codeExecution, functionDeclarations...
            continue
        decl: dict[str, Any] = {"name": fn.name}
        if fn.description:
            decl["description"] = fn.description
        # An object schema without properties is refused by the API: omit it.
        if fn.parameters and (fn.parameters.get("properties") or fn.parameters.get("type") not in
                              (None, "object")):
            decl["parameters"] = dict(fn.parameters)
        declarations.append(decl)
    return ([{"functionDeclarations": declarations}] if declarations else []) + native


def _tool_config(choice: Any) -> dict[str, Any]:
    parsed = parse_tool_choice(choice, _NAME)
    if parsed.mode == "function":
        config: dict[str, Any] = {"mode": "ANY", "allowedFunctionNames": [parsed.name]}
    else:
        config = {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[parsed.mode]}
    return {"functionCallingConfig": config}


class GeminiProvider:
    """The Gemini API codec (``gemini/`` models)."""

    name: str = _NAME
    framing: Framing = "sse"

    def build_request(self, config: ProviderConfig, request: RequestInput) -> HTTPRequest:
        params = dict(request.params)
        reject_params(_NAME, params, OPENAI_ONLY)
        instruction, contents = gemini_contents(request_messages(request, _NAME))
        body: dict[str, Any] = {"contents": contents}
        if instruction is not None:
            body["systemInstruction"] = instruction
        generation: dict[str, Any] = dict(params.pop("generationConfig", None) or {})
        for ours, theirs in _GENERATION.items():
            value = params.pop(ours, None)
            if value is not None:
                generation[theirs] = value
        limit = max_output_tokens(params, _NAME)
        if limit is not None:
            generation["maxOutputTokens"] = limit
        stop = params.pop("stop", None)
        if stop is not None:
            generation["stopSequences"] = stop_sequences(stop, _NAME)
        schema = response_schema(params.pop("response_format", {"type": "text"}), _NAME)
        if schema is not None:
            generation["responseMimeType"] = "application/json"
            if isinstance(schema, Mapping):
                generation["responseJsonSchema"] = dict(schema)
        thinking = params.pop("thinkingConfig", None)
        if thinking is not None:
            generation["thinkingConfig"] = thinking
        if generation:
            body["generationConfig"] = generation
        tools = params.pop("tools", None)
        if tools:
            body["tools"] = _declarations(tools)
        choice = params.pop("tool_choice", None)
        if choice is not None:
            body["toolConfig"] = _tool_config(choice)
        if params.pop("parallel_tool_calls", None) is False:
            raise ConfigurationError(f"{_NAME} cannot turn parallel tool calls off")
        for key in ("max_tokens", "max_completion_tokens", "stream", "stream_options"):
            params.pop(key, None)
        body.update(params)  # safetySettings, cachedContent and other native fields
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream",
                   **config.headers}
        secret: dict[str, Secret] = {}
        if config.api_key is not None:
            secret["x-goog-api-key"] = config.api_key
        base = config.base_url.rstrip("/")
        if not base.endswith(("/v1beta", "/v1", "/v1alpha")):
            base += "/v1beta"
        model = config.model.removeprefix("models/")
        url = f"{base}/models/{quote(model, safe='-._~')}:streamGenerateContent?alt=sse"
        return HTTPRequest("POST", url, body, headers, secret, "sse")

    def new_decoder(self, request: RequestInput) -> GeminiDecoder:
        return GeminiDecoder()

    def error_from_response(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> HTTPStatusError:
        """Reads ``{"error": {code, message, status, details}}``, also wrapped in
        a one-element list; ``RetryInfo.retryDelay`` gives ``retry_after`` when
        no header does."""
        data = decode_error_body(body)
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        err = data.get("error") if isinstance(data, dict) else None
        message, status, code = _error_fields(err) if err is not None else (None, None, None)
        # Gemini answers a wrong key with 400 INVALID_ARGUMENT; it is an auth failure.
        cls = AuthenticationError if code == "API_KEY_INVALID" else None
        error = build_status_error(status_code, headers, body, provider=_NAME,
                                   provider_message=message, type=status, code=code,
                                   error_class=cls)
        if error.retry_after is None:
            error.retry_after = _retry_delay(err)
        return error
