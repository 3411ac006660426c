"""Google Gemini: ``POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse``.

Requests are written in OpenAI form and translated to ``contents`` (assistant
turns become ``model`` turns, tool calls ``functionCall`` parts, tool results
``functionResponse`` parts answered by function name), ``systemInstruction``,
``tools[].functionDeclarations``, ``toolConfig`` and ``generationConfig``;
every request field is translated, passed (Gemini's own) or refused, as
``FIELDS`` declares (see ``gemini_request``).

The stream is decoded by ``GeminiDecoder`` (see ``gemini_decode``), which also
keeps the thought signatures a tool loop must send back: ``continuation()``
gives them to ``StreamResult.to_message()``, and the request translator puts
them back on their parts (see ``gemini_contents``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..errors import AuthenticationError, HTTPStatusError
from ._base import (
    Framing,
    HTTPRequest,
    ProviderConfig,
    RequestInput,
    Secret,
    build_status_error,
    decode_error_body,
)
from ._fields import FieldTable
from .gemini_contents import gemini_contents
from .gemini_decode import GeminiDecoder, GeminiLogprobsDecoder, error_fields, gemini_usage
from .gemini_request import FIELDS, gemini_body

__all__ = ["GeminiDecoder", "GeminiProvider", "gemini_contents", "gemini_usage"]

_NAME = "gemini"


def _retry_delay(err: Any) -> float | None:
    """``RetryInfo.retryDelay`` (a protobuf Duration such as ``"31s"``) in seconds."""
    details = err.get("details") if isinstance(err, Mapping) else None
    for detail in details if isinstance(details, list) else ():
        delay = detail.get("retryDelay") if isinstance(detail, Mapping) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                return None
    return None


class GeminiProvider:
    """The Gemini API codec (``gemini/`` models)."""

    name: str = _NAME
    framing: Framing = "sse"
    fields: FieldTable = FIELDS

    def build_request(self, config: ProviderConfig, request: RequestInput) -> HTTPRequest:
        """The ``streamGenerateContent`` request; ``ConfigurationError`` for a
        field Gemini cannot take."""
        model = config.model.removeprefix("models/")
        body = gemini_body(model, request)
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream",
                   **config.headers}
        secret: dict[str, Secret] = {}
        if config.api_key is not None:
            secret["x-goog-api-key"] = config.api_key
        base = config.base_url.rstrip("/")
        if not base.endswith(("/v1beta", "/v1", "/v1alpha")):
            base += "/v1beta"
        url = f"{base}/models/{quote(model, safe='-._~')}:streamGenerateContent?alt=sse"
        return HTTPRequest("POST", url, body, headers, secret, "sse")

    def new_decoder(self, request: RequestInput) -> GeminiDecoder:
        if request.params.get("logprobs"):
            return GeminiLogprobsDecoder()
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
        message, status, code = error_fields(err) if err is not None else (None, None, None)
        # Gemini answers a wrong key with 400 INVALID_ARGUMENT; it is an auth failure.
        cls = AuthenticationError if code == "API_KEY_INVALID" else None
        error = build_status_error(status_code, headers, body, provider=_NAME,
                                   provider_message=message, type=status, code=code,
                                   error_class=cls)
        if error.retry_after is None:
            error.retry_after = _retry_delay(err)
        return error
