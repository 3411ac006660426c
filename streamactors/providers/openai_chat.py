"""OpenAI Chat Completions, and every server that speaks it.

One codec serves ``openai/``, ``mistral/``, ``openrouter/`` and
``openai-compatible/`` (vLLM, llama.cpp, LM Studio, transformers serve...):
they share the wire format and differ in their request fields (see
``openai_fields.py``), in the message keys they refuse, and in a few stream
quirks, which the decoder tolerates (role repeated in every chunk, usage on the
finish chunk or on every chunk, whole tool calls in one fragment, first tool
call at index 1, ``reasoning_content`` or ``reasoning``, Mistral's list-form
``content``, OpenRouter's error chunks, no ``[DONE]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._chunk import Chunk, ToolCallDelta
from ..errors import HTTPStatusError, ProtocolError, ProviderError
from ._base import (
    Continuation,
    Framing,
    HTTPRequest,
    ProviderConfig,
    RequestInput,
    expect_object,
    expect_str,
    loads_event,
    wrong_shape,
)
from ._fields import FieldTable, check_fields
from .openai_common import (
    FINISH,
    bearer_headers,
    openai_error_from_response,
    openai_finish_reason,
    openai_usage,
)
from .openai_fields import apply_fields
from .openai_messages import without_foreign_keys
from .openai_variants import variant, with_legacy_rules

__all__ = [
    "OpenAIChatDecoder",
    "OpenAIChatProvider",
    "bearer_headers",
    "compatible",
    "mistral",
    "openai",
    "openai_error_from_response",
    "openai_finish_reason",
    "openai_usage",
    "openrouter",
]

#: Builds a ``Chunk`` from a full tuple of its fields, skipping the keyword
#: handling of the named tuple's ``__new__`` (the fast path of ``feed``).
_new_chunk = tuple.__new__


def _thinking_text(inner: Any, provider: str, where: str) -> list[str]:
    """The text of a Magistral ``thinking`` part: a string or a list of text parts."""
    if type(inner) is str:
        return [inner]
    if type(inner) is not list:
        raise wrong_shape(provider, where, inner, "a string or a list of parts")
    out: list[str] = []
    for j, part in enumerate(inner):
        if type(part) is not dict:
            raise wrong_shape(provider, f"{where}[{j}]", part, "an object")
        text = expect_str(part.get("text"), provider, f"{where}[{j}].text")
        if text is not None:
            out.append(text)
    return out


def _content_parts(content: list[Any], provider: str, where: str) -> tuple[str | None, str | None]:
    """Text and reasoning from list-form ``content`` (Mistral Magistral); parts
    of other types (references...) carry neither and are skipped."""
    text: list[str] = []
    reasoning: list[str] = []
    for j, part in enumerate(content):
        if type(part) is not dict:
            raise wrong_shape(provider, f"{where}[{j}]", part, "an object")
        kind = part.get("type")
        if kind == "text":
            piece = expect_str(part.get("text"), provider, f"{where}[{j}].text")
            if piece is not None:
                text.append(piece)
        elif kind == "thinking":
            reasoning += _thinking_text(part.get("thinking"), provider, f"{where}[{j}].thinking")
    return ("".join(text) or None), ("".join(reasoning) or None)


class OpenAIChatDecoder:
    """Decodes ``chat.completion.chunk`` events into chunks, one per choice.

    Attributes:
        done: True once ``[DONE]`` arrived.
    """

    __slots__ = ("_ids", "_provider", "done")

    def __init__(self, provider: str = "openai") -> None:
        self._provider = provider
        #: tool-call id -> index, for servers that omit ``index``.
        self._ids: dict[str, int] = {}
        self.done = False

    def continuation(self) -> Continuation:
        """Nothing: an OpenAI-style message carries all a next turn needs."""
        return {}

    def feed(self, data: str, event: str = "message") -> list[Chunk]:
        """The chunks of one SSE event (see ``StreamDecoder``)."""
        # Parsed here rather than through event_object (one call less), and
        # [DONE] recognized only once the parse failed: the common event pays
        # for neither, which pays for the type checks below.
        try:
            obj = loads_event(data)
        except ValueError:
            return self._not_json(data)
        if type(obj) is not dict:
            raise ProtocolError(f"{self._provider} sent an event that is not a JSON object",
                                payload=data)
        if obj.get("error"):
            raise self._in_band_error(obj["error"])
        choices = obj.get("choices")
        usage_obj = obj.get("usage")
        if type(choices) is list and len(choices) == 1 and not usage_obj:
            # The common event: one choice whose delta is one piece of text.
            # Every value it uses is type-checked here; anything else takes
            # the general way, which names what is wrong.
            choice = choices[0]
            delta = choice.get("delta") if type(choice) is dict else None
            if type(delta) is dict and len(delta) == 1 and choice.get("finish_reason") is None:
                text = delta.get("content")
                index = choice.get("index", 0)
                rid = obj.get("id")
                model = obj.get("model")
                if (type(text) is str and type(index) is int
                        and (type(rid) is str or rid is None)
                        and (type(model) is str or model is None)):
                    return [_new_chunk(Chunk, (
                        text or None, None, (), None, None, None, index, obj, None, rid, model,
                        choice.get("logprobs"), None,
                    ))]
        return self._general(obj, choices, usage_obj)

    def _not_json(self, data: str) -> list[Chunk]:
        """``[DONE]`` ends the stream; anything else that is not JSON is an error."""
        if data.startswith("[DONE]"):
            self.done = True
            return []
        raise ProtocolError(f"{self._provider} sent an event that is not valid JSON",
                            payload=data)

    def _general(self, obj: dict[str, Any], choices: Any, usage_obj: Any) -> list[Chunk]:
        p = self._provider
        usage = openai_usage(usage_obj, p) if usage_obj else None
        rid = expect_str(obj.get("id"), p, "id")
        model = expect_str(obj.get("model"), p, "model")
        if choices is not None and type(choices) is not list:
            raise wrong_shape(p, "choices", choices, "a list")
        if not choices:  # the usage chunk has choices: []
            return [Chunk(usage=usage, raw=obj, id=rid, model=model)]
        out = []
        for i, choice in enumerate(choices):
            out.append(self._choice(obj, choice, i, usage, rid, model))
            usage = None  # usage belongs to the event, not to each choice
        return out

    def _choice(self, obj: dict[str, Any], choice: Any, i: int, usage: Any, rid: str | None,
                model: str | None) -> Chunk:
        p = self._provider
        where = f"choices[{i}]"
        if type(choice) is not dict:
            raise wrong_shape(p, where, choice, "an object")
        delta = expect_object(choice.get("delta"), p, where + ".delta") or {}
        text, reasoning = self._texts(delta, where + ".delta")
        native = expect_str(choice.get("finish_reason"), p, where + ".finish_reason")
        index = choice.get("index")
        if index is None:
            index = 0
        elif type(index) is not int:
            raise wrong_shape(p, where + ".index", index, "an integer")
        tcs = delta.get("tool_calls")
        return Chunk(
            text,
            reasoning,
            self._tool_calls(tcs, delta, where + ".delta") if (tcs or "function_call" in delta)
            else (),
            FINISH.get(native, "other") if native else None,
            native,
            usage,
            index,
            obj,
            expect_str(delta.get("refusal"), p, where + ".delta.refusal"),
            rid,
            model,
            choice.get("logprobs"),
            expect_str(delta.get("role"), p, where + ".delta.role"),
        )

    def _texts(self, delta: dict[str, Any], where: str) -> tuple[str | None, str | None]:
        """Text and reasoning of a delta (``content`` may be Mistral's part list)."""
        p = self._provider
        reasoning = delta.get("reasoning_content") or delta.get("reasoning") or None
        if reasoning is not None and type(reasoning) is not str:
            key = "reasoning_content" if delta.get("reasoning_content") else "reasoning"
            raise wrong_shape(p, f"{where}.{key}", reasoning, "a string")
        text = delta.get("content")
        if text is None or type(text) is str:
            return text or None, reasoning
        if type(text) is not list:
            raise wrong_shape(p, where + ".content", text, "a string or a list of parts")
        text, more = _content_parts(text, p, where + ".content")
        return text, reasoning or more

    def _tool_calls(self, tcs: Any, delta: dict[str, Any], where: str
                    ) -> tuple[ToolCallDelta, ...]:
        if not tcs:
            return self._function_call(delta.get("function_call"), where + ".function_call")
        if type(tcs) is not list:
            raise wrong_shape(self._provider, where + ".tool_calls", tcs, "a list")
        return tuple(self._tool_call(tc, f"{where}.tool_calls[{j}]") for j, tc in enumerate(tcs))

    def _tool_call(self, tc: Any, where: str) -> ToolCallDelta:
        p = self._provider
        if type(tc) is not dict:
            raise wrong_shape(p, where, tc, "an object")
        fn = expect_object(tc.get("function"), p, where + ".function") or {}
        tid = expect_str(tc.get("id"), p, where + ".id")
        index = tc.get("index")
        if index is None:
            index = self._ids[tid] if tid is not None and tid in self._ids else len(self._ids)
        elif type(index) is not int:
            raise wrong_shape(p, where + ".index", index, "an integer")
        if tid is not None:
            self._ids.setdefault(tid, index)
        return ToolCallDelta(
            index,
            tid,
            expect_str(fn.get("name"), p, where + ".function.name"),
            expect_str(fn.get("arguments"), p, where + ".function.arguments") or "",
            expect_str(tc.get("type"), p, where + ".type") or "function",
        )

    def _function_call(self, fc: Any, where: str) -> tuple[ToolCallDelta, ...]:
        """The deprecated ``function_call`` delta, as the tool call at index 0."""
        p = self._provider
        fc = expect_object(fc, p, where)
        if fc is None:
            return ()
        return (ToolCallDelta(0, None, expect_str(fc.get("name"), p, where + ".name"),
                              expect_str(fc.get("arguments"), p, where + ".arguments") or ""),)

    def _in_band_error(self, err: Any) -> ProviderError:
        if isinstance(err, dict):
            message = err.get("message")
            code = err.get("code")
            type_ = err.get("type")
        else:
            message, code, type_ = str(err), None, None
        return ProviderError(
            f"{self._provider} reported an error mid-stream: {message}",
            provider_message=message if isinstance(message, str) else None,
            type=type_ if isinstance(type_, str) else None,
            code=code if isinstance(code, (str, int)) else None,
            provider=self._provider,
        )


class OpenAIChatProvider:
    """``POST {base}/chat/completions`` with ``stream: true``.

    Args:
        name: the model prefix served (``openai``, ``mistral``, ``openrouter``,
            ``openai-compatible``); it picks the request fields and the
            message keys dropped. Any other name is served as an
            OpenAI-compatible server.
        include_usage: ask for the usage chunk (``stream_options``) unless the
            caller set ``stream_options`` itself.
        fields: the request-field table (default: the variant's).
        rename: older form of a ``translated`` row: fields this server spells
            differently (Mistral's ``random_seed`` for ``seed``).
        unsupported: older form of ``refused`` rows.
    """

    framing: Framing = "sse"

    def __init__(
        self,
        name: str = "openai",
        *,
        include_usage: bool = True,
        fields: FieldTable | None = None,
        rename: Mapping[str, str] | None = None,
        unsupported: tuple[str, ...] | None = None,
    ) -> None:
        served = variant(name)
        self.name = name
        self.fields: FieldTable = fields if fields is not None else served.fields
        if rename or unsupported:
            self.fields = with_legacy_rules(self.fields, rename, unsupported)
        self._include_usage = include_usage
        self._foreign = served.foreign

    def build_request(self, config: ProviderConfig, request: RequestInput) -> HTTPRequest:
        """The streaming request; ``ConfigurationError`` for a field this
        server cannot take (before anything is sent)."""
        params = request.params
        if "stream" in params:  # always streaming: the api layer refused stream=False
            params = {k: v for k, v in params.items() if k != "stream"}
        check_fields(self.name, params, self.fields)
        messages = request.messages
        body: dict[str, Any] = {
            "model": config.model,
            "messages": list(messages) if self._foreign is None
            else without_foreign_keys(messages, self._foreign),
        }
        apply_fields(body, params, self.fields, self.name)
        body["stream"] = True
        if self._include_usage and "stream_options" not in body:
            body["stream_options"] = {"include_usage": True}
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            **config.headers,
        }
        return HTTPRequest(
            "POST",
            config.base_url.rstrip("/") + "/chat/completions",
            body,
            headers,
            bearer_headers(config),
            self.framing,
        )

    def new_decoder(self, request: RequestInput) -> OpenAIChatDecoder:
        """A fresh decoder; the request does not change how events decode."""
        return OpenAIChatDecoder(self.name)

    def error_from_response(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> HTTPStatusError:
        """The typed error of an OpenAI-shaped error response."""
        return openai_error_from_response(status_code, headers, body, self.name)


def openai() -> OpenAIChatProvider:
    """OpenAI's own Chat Completions."""
    return OpenAIChatProvider("openai")


def mistral() -> OpenAIChatProvider:
    """Mistral's chat completions: its own field names and message keys."""
    return OpenAIChatProvider("mistral")


def openrouter() -> OpenAIChatProvider:
    """OpenRouter: OpenAI's fields plus its routing and sampling fields."""
    return OpenAIChatProvider("openrouter")


def compatible() -> OpenAIChatProvider:
    """A self-hosted OpenAI-compatible server (vLLM, llama.cpp, LM Studio...)."""
    return OpenAIChatProvider("openai-compatible")
