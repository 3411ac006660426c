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
from ._base import Framing, HTTPRequest, ProviderConfig, RequestInput, event_object, reject_params
from .openai_chat import bearer_headers, openai_error_from_response, openai_usage

__all__ = ["OpenAICompletionsDecoder", "OpenAICompletionsProvider"]

#: Chat-only parameters: the completions endpoint has no messages, tools or roles.
_CHAT_ONLY = (
    "tools", "tool_choice", "parallel_tool_calls", "functions", "function_call",
    "response_format", "reasoning_effort", "modalities", "audio", "prediction",
    "web_search_options", "top_logprobs", "messages", "instructions", "input",
)
_FINISH = {"stop": "stop", "length": "length", "content_filter": "content_filter"}


class OpenAICompletionsDecoder:
    """Decoding state of one legacy Completions stream (one chunk per choice).

    Attributes:
        done: True once ``[DONE]`` arrived.
    """

    __slots__ = ("_provider", "done")

    def __init__(self, provider: str = "openai") -> None:
        self._provider = provider
        self.done = False

    def feed(self, data: str, event: str = "message") -> list[Chunk]:
        """The chunks of one SSE event (see ``StreamDecoder``)."""
        if data.startswith("[DONE]"):
            self.done = True
            return []
        payload = event_object(data, self._provider)
        if payload.get("error"):
            raise self._error(payload["error"], data)
        raw_usage = payload.get("usage")
        usage = openai_usage(raw_usage) if isinstance(raw_usage, dict) else None
        rid, model = payload.get("id"), payload.get("model")
        choices = payload.get("choices")
        if not choices:
            if usage is None:
                return []
            return [Chunk(usage=usage, raw=payload, id=rid, model=model)]
        out: list[Chunk] = []
        for choice in choices:
            if type(choice) is not dict:
                raise ProtocolError(f"{self._provider} sent a malformed choice", payload=data)
            native = choice.get("finish_reason")
            out.append(Chunk(
                text=choice.get("text") or None,
                finish_reason=_FINISH.get(native, "other") if native else None,
                native_finish_reason=native,
                index=choice.get("index", 0),
                raw=payload,
                id=rid,
                model=model,
                logprobs=choice.get("logprobs"),
            ))
        if usage is not None:  # some servers put usage on the last choice chunk
            out[-1] = out[-1]._replace(usage=usage)
        return out

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


class OpenAICompletionsProvider:
    """The codec of legacy text completions (``kind="completion"``).

    Args:
        name: the model prefix served (``openai`` or ``openai-compatible``).
    """

    framing: Framing = "sse"

    def __init__(self, name: str = "openai") -> None:
        self.name = name

    def build_request(self, config: ProviderConfig, request: RequestInput) -> HTTPRequest:
        """``POST {base_url}/completions`` with ``prompt`` and ``stream: true``.

        Parameters pass through unchanged (``max_tokens``, ``n``, ``stop``,
        ``logprobs`` as an integer, ``echo``, ``best_of``, ``suffix``...);
        ``max_completion_tokens`` is sent as ``max_tokens``; chat-only ones
        are a ``ConfigurationError``. Usage is requested unless the caller set
        ``stream_options`` itself.
        """
        if request.kind != "completion" or request.messages:
            raise ConfigurationError(
                f"{self.name} text completions take a prompt, not messages; use chat()"
            )
        if request.prompt is None:
            raise ConfigurationError(f"{self.name} text completions need a prompt")
        params = dict(request.params)
        reject_params(self.name, params, _CHAT_ONLY)
        logprobs = params.get("logprobs")
        if isinstance(logprobs, bool):
            raise ConfigurationError(
                "logprobs for text completions is an integer (how many alternatives per "
                "token, 0-5), not a boolean"
            )
        if "max_completion_tokens" in params:
            value = params.pop("max_completion_tokens")
            if params.setdefault("max_tokens", value) != value:
                raise ConfigurationError("max_tokens and max_completion_tokens disagree")
        params.pop("stream", None)
        params.pop("model", None)
        body: dict[str, Any] = {"model": config.model, "prompt": request.prompt, **params}
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
