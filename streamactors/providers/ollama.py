"""Ollama: ``POST {base}/api/chat`` (chat) and ``/api/generate`` (completion).

The body is NDJSON: one JSON object per line, the last with ``"done": true``
(the end marker: ``done`` turns True there). Tool calls arrive whole
(arguments as an object), one or several per line, in lines of their own:
each becomes one complete ``ToolCallDelta`` numbered across the stream.
Inline ``<think>`` tags of models run without ``think`` stay in the text, as
the server sent them. A field of the wrong JSON type is a ``ProtocolError``
naming it (an empty value of any type counts as absent: nothing is lost).

Requests are built by ``ollama_request``: Ollama ignores request fields it
does not know, so a field this codec cannot place is refused with a
``ConfigurationError`` instead of vanishing. ``/api/chat`` and
``/api/generate`` take different fields: ``OllamaProvider`` declares the chat
ones, ``OllamaGenerateProvider`` the completion ones (both build either
kind of request, each with its own table).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from .._chunk import Chunk, ToolCallDelta, Usage
from ..errors import HTTPStatusError, ProviderError
from ._base import (
    Continuation,
    Framing,
    HTTPRequest,
    ProviderConfig,
    RequestInput,
    Secret,
    build_status_error,
    decode_error_body,
    event_object,
    expect_list,
    expect_str,
    wrong_shape,
)
from ._fields import FieldTable
from ._messages import dumps_arguments
from .ollama_request import CHAT_FIELDS, GENERATE_FIELDS, ollama_body, ollama_messages

__all__ = ["OllamaDecoder", "OllamaGenerateProvider", "OllamaLogprobsDecoder", "OllamaProvider",
           "ollama_messages", "ollama_usage"]

_NAME = "ollama"

_FINISH = {"stop": "stop", "length": "length", "load": "other", "unload": "other"}

#: Counts and durations of the final line kept as the usage's ``raw``.
_USAGE_KEYS = ("prompt_eval_count", "eval_count", "total_duration", "load_duration",
               "prompt_eval_duration", "eval_duration")


def ollama_usage(obj: Mapping[str, Any]) -> Usage | None:
    """A ``Usage`` from the final line (``prompt_eval_count`` is omitted when 0),
    or None when the line carries no counts at all.

    Raises:
        ProtocolError: a count is not an integer.
    """
    prompt = obj.get("prompt_eval_count")
    completion = obj.get("eval_count")
    for key, value in (("prompt_eval_count", prompt), ("eval_count", completion)):
        if value is not None and type(value) is not int:
            raise wrong_shape(_NAME, key, value, "an integer")
    if prompt is None and completion is None:
        return None
    prompt = prompt or 0
    completion = completion or 0
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        raw={k: obj[k] for k in _USAGE_KEYS if k in obj},
    )


def _not_text(value: Any, message: Any, key: str) -> NoReturn:
    """The ``ProtocolError`` for a text field (``key`` of the chat ``message``,
    or of a generate line) that is not a string."""
    where = f"message.{key}" if message is not None else ("response" if key == "content"
                                                           else key)
    raise wrong_shape(_NAME, where, value, "a string")


class OllamaDecoder:
    """Decodes the NDJSON lines of one ``/api/chat`` or ``/api/generate`` stream.

    A request that asks for log-probabilities gets ``OllamaLogprobsDecoder``,
    so this one never looks for them.
    """

    __slots__ = ("_calls", "done")

    def __init__(self) -> None:
        self._calls = 0
        #: True once the line with ``"done": true`` arrived.
        self.done = False

    def feed(self, data: str, event: str = "message") -> list[Chunk]:
        obj = event_object(data, _NAME)
        if "error" in obj:
            raise self._error(obj["error"], data)
        message = obj.get("message")
        if type(message) is dict:  # /api/chat
            text = message.get("content")
            reasoning = message.get("thinking")
            tcs = message.get("tool_calls")
            calls = self._tool_calls(tcs) if tcs is not None else ()
        elif message is None:  # /api/generate
            text = obj.get("response")
            reasoning = obj.get("thinking")
            calls = ()
        else:
            raise wrong_shape(_NAME, "message", message, "an object")
        # Empty (or absent) is None; a non-empty value must be a string.
        text = (text if type(text) is str else _not_text(text, message, "content")
                ) if text else None
        reasoning = (reasoning if type(reasoning) is str else _not_text(
            reasoning, message, "thinking")) if reasoning else None
        model = obj.get("model")
        if type(model) is not str and model is not None:
            raise wrong_shape(_NAME, "model", model, "a string")
        done = obj.get("done")
        if done:
            return [self._final(obj, done, text, reasoning, calls, model)]
        if text is None and reasoning is None and not calls:
            return []
        return [Chunk(text, reasoning, calls, None, None, None, 0, obj, None, None, model)]

    def continuation(self) -> Continuation:
        """Nothing: an Ollama conversation continues from its messages alone."""
        return {}

    def _final(self, obj: dict[str, Any], done: Any, text: str | None, reasoning: str | None,
               calls: tuple[ToolCallDelta, ...], model: str | None) -> Chunk:
        """The chunk of the ``done`` line: finish reason and usage."""
        if done is not True:
            raise wrong_shape(_NAME, "done", done, "a boolean")
        self.done = True
        native = obj.get("done_reason")
        if native is None or native == "":
            native = "stop"
        elif type(native) is not str:
            raise wrong_shape(_NAME, "done_reason", native, "a string")
        finish = _FINISH.get(native, "other")
        if finish == "stop" and self._calls:
            finish = "tool_calls"
        return Chunk(text, reasoning, calls, finish, native, ollama_usage(obj), 0, obj, None,
                     None, model)

    def _tool_calls(self, tcs: Any) -> tuple[ToolCallDelta, ...]:
        out: list[ToolCallDelta] = []
        for call in expect_list(tcs, _NAME, "message.tool_calls") or ():
            if type(call) is not dict:
                raise wrong_shape(_NAME, "message.tool_calls[]", call, "an object")
            fn = call.get("function")
            if type(fn) is not dict:
                raise wrong_shape(_NAME, "message.tool_calls[].function", fn, "an object")
            name = expect_str(fn.get("name"), _NAME, "message.tool_calls[].function.name")
            args = fn.get("arguments")
            if args is not None and type(args) is not dict and type(args) is not str:
                raise wrong_shape(_NAME, "message.tool_calls[].function.arguments", args,
                                  "an object")
            # Appended in arrival order; the server's ``function.index`` is
            # per-response and absent on the first call, so it is not used.
            k = self._calls
            self._calls += 1
            cid = call.get("id")
            if cid is None or cid == "":
                cid = f"call_{k}"
            elif type(cid) is not str:
                raise wrong_shape(_NAME, "message.tool_calls[].id", cid, "a string")
            out.append(ToolCallDelta(k, cid, name, dumps_arguments(args)))
        return tuple(out)

    @staticmethod
    def _error(err: Any, data: str) -> ProviderError:
        message = err.get("message") if isinstance(err, dict) else err
        message = message if isinstance(message, str) else str(message)
        return ProviderError(
            f"{_NAME} reported an error mid-stream: {message}",
            provider_message=message,
            body=data,
            provider=_NAME,
        )


class OllamaLogprobsDecoder(OllamaDecoder):
    """An ``OllamaDecoder`` that also reads each line's ``logprobs`` (already
    OpenAI-shaped entries) into ``chunk.logprobs`` as ``{"content": [...]}``."""

    __slots__ = ()

    def feed(self, data: str, event: str = "message") -> list[Chunk]:
        chunks = super().feed(data, event)
        obj = event_object(data, _NAME) if not chunks else chunks[0].raw
        entries = expect_list(obj.get("logprobs"), _NAME, "logprobs")
        if not entries:
            return chunks
        if not chunks:
            return [Chunk(raw=obj, model=obj.get("model"), logprobs={"content": entries})]
        return [chunks[0]._replace(logprobs={"content": entries})]


class OllamaProvider:
    """The Ollama codec (``ollama/`` models) for ``chat()``: ``/api/chat``."""

    name: str = _NAME
    framing: Framing = "ndjson"
    fields: FieldTable = CHAT_FIELDS

    def build_request(self, config: ProviderConfig, request: RequestInput) -> HTTPRequest:
        """The request for ``request`` (``/api/generate`` for a completion);
        ``ConfigurationError`` for a field that endpoint cannot take."""
        body = ollama_body(config.model, request)
        headers = {"Content-Type": "application/json", "Accept": "application/x-ndjson",
                   **config.headers}
        secret: dict[str, Secret] = {}
        if config.api_key is not None:
            secret["Authorization"] = Secret("Bearer " + config.api_key.reveal())
        base = config.base_url.rstrip("/")
        base = base.removesuffix("/api")
        url = base + ("/api/generate" if request.kind == "completion" else "/api/chat")
        return HTTPRequest("POST", url, body, headers, secret, "ndjson")

    def new_decoder(self, request: RequestInput) -> OllamaDecoder:
        if request.params.get("logprobs"):
            return OllamaLogprobsDecoder()
        return OllamaDecoder()

    def error_from_response(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> HTTPStatusError:
        """Reads ``{"error": "..."}``; anything else keeps its text in ``body``."""
        data = decode_error_body(body)
        message = data.get("error") if isinstance(data, dict) else None
        if isinstance(message, dict):
            message = message.get("message")
        return build_status_error(
            status_code, headers, body, provider=_NAME,
            provider_message=message if isinstance(message, str) else None,
        )


class OllamaGenerateProvider(OllamaProvider):
    """The Ollama codec for ``complete()``: ``/api/generate``, whose fields
    (``system``, ``template``, ``raw``, ``suffix``, ``context``, ``images``)
    differ from the chat ones."""

    fields: FieldTable = GENERATE_FIELDS
