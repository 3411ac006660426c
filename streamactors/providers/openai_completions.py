"""Codec for OpenAI legacy text Completions (``POST {base}/completions``, SSE).

The endpoint takes one ``prompt`` and streams ``text_completion`` chunks whose
``choices[i].text`` carries new text (no ``delta``, no roles, no tools). With
``stream_options.include_usage`` a last chunk with ``choices: []`` carries the
token counts; ``data: [DONE]`` ends the stream. Also spoken by vLLM, llama.cpp
and other OpenAI-compatible servers. See WIRE-FORMATS.md §2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._chunk import Chunk
from ..errors import ConfigurationError, HTTPStatusError, ProtocolError, ProviderError
from ._base import (
    Continuation,
    Framing,
    HTTPRequest,
    ProviderConfig,
    RequestInput,
    expect_str,
    loads_event,
    wrong_shape,
)
from ._fields import FieldTable, check_fields
from .openai_common import bearer_headers, openai_error_from_response, openai_usage
from .openai_fields import (
    COMPATIBLE_COMPLETIONS,
    OMIT,
    OPENAI_COMPLETIONS,
    Translator,
    apply_fields,
)

__all__ = ["OpenAICompletionsDecoder", "OpenAICompletionsProvider"]

_FINISH = {"stop": "stop", "length": "length", "content_filter": "content_filter"}

#: Builds a ``Chunk`` from a full tuple of its fields (the fast path of ``feed``).
_new_chunk = tuple.__new__


class OpenAICompletionsDecoder:
    """Decoding state of one legacy Completions stream (one chunk per choice).

    Attributes:
        done: True once ``[DONE]`` arrived.
    """

    __slots__ = ("_provider", "done")

    def __init__(self, provider: str = "openai") -> None:
        self._provider = provider
        self.done = False

    def continuation(self) -> Continuation:
        """Nothing: a text completion has no conversation to continue."""
        return {}

    def feed(self, data: str, event: str = "message") -> list[Chunk]:
        """The chunks of one SSE event (see ``StreamDecoder``)."""
        try:  # [DONE] is looked for only once the parse failed, as in the chat codec
            payload = loads_event(data)
        except ValueError:
            return self._not_json(data)
        if type(payload) is not dict:
            raise ProtocolError(f"{self._provider} sent an event that is not a JSON object",
                                payload=data)
        if payload.get("error"):
            raise self._error(payload["error"], data)
        choices = payload.get("choices")
        if type(choices) is list and len(choices) == 1 and not payload.get("usage"):
            # The common event: one choice with new text; every value it uses
            # is type-checked, anything else takes the general way.
            choice = choices[0]
            if type(choice) is dict and choice.get("finish_reason") is None:
                text = choice.get("text")
                index = choice.get("index", 0)
                rid = payload.get("id")
                model = payload.get("model")
                if (type(text) is str and type(index) is int
                        and (type(rid) is str or rid is None)
                        and (type(model) is str or model is None)):
                    return [_new_chunk(Chunk, (
                        text or None, None, (), None, None, None, index, payload, None, rid,
                        model, choice.get("logprobs"), None,
                    ))]
        return self._general(payload, choices, data)

    def _not_json(self, data: str) -> list[Chunk]:
        """``[DONE]`` ends the stream; anything else that is not JSON is an error."""
        if data.startswith("[DONE]"):
            self.done = True
            return []
        raise ProtocolError(f"{self._provider} sent an event that is not valid JSON",
                            payload=data)

    def _general(self, payload: dict[str, Any], choices: Any, data: str) -> list[Chunk]:
        p = self._provider
        raw_usage = payload.get("usage")
        usage = openai_usage(raw_usage, p) if raw_usage else None
        rid = expect_str(payload.get("id"), p, "id")
        model = expect_str(payload.get("model"), p, "model")
        if choices is not None and type(choices) is not list:
            raise wrong_shape(p, "choices", choices, "a list")
        if not choices:
            if usage is None:
                return []
            return [Chunk(usage=usage, raw=payload, id=rid, model=model)]
        out = [self._choice(payload, choice, i, rid, model) for i, choice in enumerate(choices)]
        if usage is not None:  # some servers put usage on the last choice chunk
            out[-1] = out[-1]._replace(usage=usage)
        return out

    def _choice(self, payload: dict[str, Any], choice: Any, i: int, rid: str | None,
                model: str | None) -> Chunk:
        p = self._provider
        where = f"choices[{i}]"
        if type(choice) is not dict:
            raise wrong_shape(p, where, choice, "an object")
        native = expect_str(choice.get("finish_reason"), p, where + ".finish_reason")
        index = choice.get("index")
        if index is None:
            index = 0
        elif type(index) is not int:
            raise wrong_shape(p, where + ".index", index, "an integer")
        return Chunk(
            text=expect_str(choice.get("text"), p, where + ".text") or None,
            finish_reason=_FINISH.get(native, "other") if native else None,
            native_finish_reason=native,
            index=index,
            raw=payload,
            id=rid,
            model=model,
            logprobs=choice.get("logprobs"),
        )

    def _error(self, err: Any, data: str) -> ProviderError:
        if not isinstance(err, dict):
            err = {"message": str(err)}
        message, etype, code = err.get("message"), err.get("type"), err.get("code")
        return ProviderError(
            f"{self._provider} reported an error mid-stream: {message or 'no message'}",
            provider_message=message if isinstance(message, str) else None,
            type=etype if isinstance(etype, str) else None,
            code=code if isinstance(code, (str, int)) else None,
            body=data,
            provider=self._provider,
        )


def _logprobs(value: Any) -> Any:
    """Chat's ``logprobs`` (a boolean) in the legacy form, an integer: true
    asks for the chosen tokens' log-probabilities, which is ``0``
    alternatives; an integer is already the legacy form."""
    if value is True:
        return 0
    if value is False or value is None:
        return OMIT
    if type(value) is int:
        return value
    raise ConfigurationError(
        f"logprobs for text completions is true or an integer (how many alternatives "
        f"per token, 0-5), got {value!r:.40}"
    )


def _top_logprobs(value: Any) -> Any:
    if type(value) is not int:
        raise ConfigurationError(f"top_logprobs must be an integer, got {value!r:.40}")
    return value


_TRANSLATORS: dict[str, Translator] = {"logprobs": _logprobs, "top_logprobs": _top_logprobs}


def _with_logprobs_order(params: Mapping[str, Any]) -> Mapping[str, Any]:
    """``params`` with ``logprobs: true`` dropped when ``top_logprobs`` says
    how many (chat's way of asking for alternatives is both together), so the
    two do not disagree over the legacy ``logprobs``."""
    if params.get("logprobs") is True and params.get("top_logprobs") is not None:
        return {k: v for k, v in params.items() if k != "logprobs"}
    if params.get("logprobs") is False and params.get("top_logprobs") is not None:
        raise ConfigurationError("top_logprobs needs logprobs=True (or drop logprobs)")
    return params


class OpenAICompletionsProvider:
    """The codec of legacy text completions (``kind="completion"``).

    Args:
        name: the model prefix served (``openai`` or ``openai-compatible``,
            which also takes the sampling fields of self-hosted servers).
    """

    framing: Framing = "sse"

    def __init__(self, name: str = "openai") -> None:
        self.name = name
        self.fields: FieldTable = OPENAI_COMPLETIONS if name == "openai" \
            else COMPATIBLE_COMPLETIONS

    def build_request(self, config: ProviderConfig, request: RequestInput) -> HTTPRequest:
        """``POST {base_url}/completions`` with ``prompt`` and ``stream: true``.

        Fields go as ``fields`` says: ``max_completion_tokens`` is sent as
        ``max_tokens``, chat's ``logprobs``/``top_logprobs`` as the legacy
        integer ``logprobs``; chat-only ones are a ``ConfigurationError``.
        Usage is requested unless the caller set ``stream_options`` itself.
        """
        if request.kind != "completion" or request.messages:
            raise ConfigurationError(
                f"{self.name} text completions take a prompt, not messages; use chat()"
            )
        if request.prompt is None:
            raise ConfigurationError(f"{self.name} text completions need a prompt")
        params = {k: v for k, v in request.params.items() if k != "stream"}
        check_fields(self.name, params, self.fields)
        body: dict[str, Any] = {"model": config.model, "prompt": request.prompt}
        apply_fields(body, _with_logprobs_order(params), self.fields, self.name, _TRANSLATORS)
        body["stream"] = True
        if "stream_options" not in body:
            body["stream_options"] = {"include_usage": True}
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream",
                   **config.headers}
        return HTTPRequest("POST", config.base_url.rstrip("/") + "/completions", body,
                           headers=headers, secret_headers=bearer_headers(config),
                           framing=self.framing)

    def new_decoder(self, request: RequestInput) -> OpenAICompletionsDecoder:
        """A fresh decoder for one stream."""
        return OpenAICompletionsDecoder(self.name)

    def error_from_response(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> HTTPStatusError:
        """The typed error of an OpenAI-shaped error response."""
        return openai_error_from_response(status_code, headers, body, self.name)
