"""Provider codecs and the registry that resolves ``provider/model`` names.

Resolution reads keys and base URLs from arguments first, then from each
provider's usual environment variables. Codec modules are imported lazily, so
using one provider never imports the others.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError
from ._base import (
    HTTPRequest,
    Provider,
    ProviderConfig,
    RequestInput,
    Secret,
    StreamDecoder,
)

__all__ = [
    "PROVIDERS",
    "HTTPRequest",
    "Provider",
    "ProviderConfig",
    "ProviderInfo",
    "RequestInput",
    "Secret",
    "StreamDecoder",
    "resolve",
]


@dataclass(frozen=True)
class ProviderInfo:
    """Where a provider lives and how it is configured from the environment."""

    prefix: str
    key_env: tuple[str, ...]
    base_env: str | None
    default_base: str | None
    key_required: bool
    factory: str  # "module:callable" under streamactors.providers
    completion_factory: str | None = None


PROVIDERS: dict[str, ProviderInfo] = {
    p.prefix: p
    for p in (
        ProviderInfo(
            "openai", ("OPENAI_API_KEY",), "OPENAI_BASE_URL", "https://api.openai.com/v1", True,
            "openai_chat:openai", "openai_completions:OpenAICompletionsProvider",
        ),
        ProviderInfo(
            "openai-responses", ("OPENAI_API_KEY",), "OPENAI_BASE_URL",
            "https://api.openai.com/v1", True, "openai_responses:OpenAIResponsesProvider",
        ),
        ProviderInfo(
            "anthropic", ("ANTHROPIC_API_KEY",), "ANTHROPIC_BASE_URL",
            "https://api.anthropic.com", True, "anthropic:AnthropicProvider",
        ),
        ProviderInfo(
            "gemini", ("GEMINI_API_KEY", "GOOGLE_API_KEY"), "GEMINI_BASE_URL",
            "https://generativelanguage.googleapis.com", True, "gemini:GeminiProvider",
        ),
        ProviderInfo(
            "ollama", ("OLLAMA_API_KEY",), "OLLAMA_HOST", "http://localhost:11434", False,
            "ollama:OllamaProvider", "ollama:OllamaProvider",
        ),
        ProviderInfo(
            "mistral", ("MISTRAL_API_KEY",), "MISTRAL_BASE_URL", "https://api.mistral.ai/v1", True,
            "openai_chat:mistral",
        ),
        ProviderInfo(
            "openrouter", ("OPENROUTER_API_KEY",), "OPENROUTER_BASE_URL",
            "https://openrouter.ai/api/v1", True, "openai_chat:openrouter",
        ),
        ProviderInfo(
            "openai-compatible", ("OPENAI_COMPATIBLE_API_KEY",), "OPENAI_COMPATIBLE_BASE_URL",
            None, False, "openai_chat:compatible",
            "openai_completions:OpenAICompletionsProvider",
        ),
    )
}


def _normalize_ollama_host(value: str) -> str:
    """``OLLAMA_HOST`` may be ``host``, ``host:port`` or a URL."""
    value = value.strip().rstrip("/")
    if "://" not in value:
        value = "http://" + value
    scheme, rest = value.split("://", 1)
    host = rest.split("/", 1)[0]
    if ":" not in host.rsplit("]", 1)[-1]:
        value = f"{scheme}://{host}:11434" + rest[len(host):]
    return value.replace("://0.0.0.0", "://127.0.0.1")


def _make(spec: str, prefix: str) -> Provider:
    module_name, attr = spec.split(":")
    module = importlib.import_module(f"{__name__}.{module_name}")
    if module_name == "openai_chat":
        return _openai_chat_variant(module, attr, prefix)
    factory = getattr(module, attr)
    provider: Provider = factory(prefix) if module_name == "openai_completions" else factory()
    return provider


def _openai_chat_variant(module: Any, variant: str, prefix: str) -> Provider:
    cls = module.OpenAIChatProvider
    if variant == "mistral":
        provider: Provider = cls(
            "mistral",
            rename={"seed": "random_seed"},
            unsupported=("top_k", "logprobs", "top_logprobs", "logit_bias", "user"),
        )
    else:
        provider = cls(prefix)
    return provider


def split_model(model: str) -> tuple[str, str]:
    """``("anthropic", "claude-sonnet-4-5")`` from ``"anthropic/claude-sonnet-4-5"``.

    The model part may itself contain slashes (``openrouter/meta-llama/llama-3``).
    """
    if not isinstance(model, str) or "/" not in model:
        raise ConfigurationError(
            f"model must be 'provider/model' (for example 'openai/gpt-4o-mini'), got {model!r}; "
            f"known providers: {', '.join(PROVIDERS)}"
        )
    prefix, name = model.split("/", 1)
    if prefix not in PROVIDERS:
        raise ConfigurationError(
            f"unknown provider {prefix!r} in {model!r}; known providers: {', '.join(PROVIDERS)}"
        )
    if not name:
        raise ConfigurationError(f"no model name after the provider in {model!r}")
    return prefix, name


def resolve(
    model: str,
    *,
    base_url: str | None = None,
    api_key: str | Secret | None = None,
    api: str | None = None,
    kind: str = "chat",
    headers: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[Provider, ProviderConfig]:
    """The codec and configuration for ``model``.

    Args:
        model: ``provider/model``.
        base_url: overrides the environment and the provider's default.
        api_key: overrides the environment.
        api: ``"responses"`` selects the OpenAI Responses API for ``openai/``.
        kind: ``"chat"`` or ``"completion"`` (legacy text completions).
        headers: extra headers for every request.
        env: the environment to read (``os.environ`` by default).

    Raises:
        ConfigurationError: unknown provider, no key where one is required, no
            base URL for ``openai-compatible``, or a kind the provider lacks.
    """
    environ = os.environ if env is None else env
    prefix, name = split_model(model)
    if api not in (None, "chat", "responses"):
        raise ConfigurationError(f"api must be 'chat' or 'responses', got {api!r}")
    info = PROVIDERS["openai-responses" if api == "responses" and prefix == "openai" else prefix]
    if api == "responses" and info.prefix != "openai-responses":
        raise ConfigurationError(f"api='responses' is only available for openai/, not {prefix}/")
    if kind == "completion":
        if info.completion_factory is None:
            raise ConfigurationError(
                f"{prefix}/ has no text-completion endpoint; use chat() with messages instead"
            )
        spec = info.completion_factory
    elif kind == "chat":
        spec = info.factory
    else:
        raise ConfigurationError(f"kind must be 'chat' or 'completion', got {kind!r}")

    url = base_url
    if url is None and info.base_env is not None:
        url = environ.get(info.base_env) or None
        if url is not None and info.prefix == "ollama":
            url = _normalize_ollama_host(url)
    if url is None:
        url = info.default_base
    if url is None:
        raise ConfigurationError(
            f"{prefix}/ needs a base_url (for example base_url='http://127.0.0.1:8000/v1') "
            f"or the {info.base_env} environment variable"
        )
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"base_url must start with http:// or https://, got {url!r}")

    key: Secret | None
    if isinstance(api_key, Secret):
        key = api_key
    elif api_key:
        key = Secret(api_key)
    else:
        found = next((environ[v] for v in info.key_env if environ.get(v)), None)
        key = Secret(found) if found else None
    if key is None and info.key_required:
        raise ConfigurationError(
            f"no API key for {prefix}/: pass api_key=... or set "
            + " or ".join(info.key_env)
        )
    provider = _make(spec, info.prefix)
    config = ProviderConfig(info.prefix, name, url.rstrip("/"), key, dict(headers or {}))
    return provider, config
