"""Provider codecs and the registry that resolves ``provider/model`` names.

Resolution reads keys and base URLs from arguments first, then from each
provider's usual environment variables; a key from the environment goes only
to its own provider's hosts. Codec modules are imported lazily, so using one
provider never imports the others.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

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


#: Builds a provider's codec for a model prefix (imports its module lazily).
Factory = Callable[[str], Provider]


@dataclass(frozen=True)
class ProviderInfo:
    """Where a provider lives and how it is configured from the environment."""

    prefix: str
    key_env: tuple[str, ...]
    base_env: str | None
    default_base: str | None
    key_required: bool
    factory: Factory
    completion_factory: Factory | None = None


# Typed factories, so that mypy checks every codec class against ``Provider``;
# each imports its module only when a model of that provider is used.


def _openai(prefix: str) -> Provider:
    from .openai_chat import openai

    return openai()


def _mistral(prefix: str) -> Provider:
    from .openai_chat import mistral

    return mistral()


def _openrouter(prefix: str) -> Provider:
    from .openai_chat import openrouter

    return openrouter()


def _compatible(prefix: str) -> Provider:
    from .openai_chat import compatible

    return compatible()


def _responses(prefix: str) -> Provider:
    from .openai_responses import OpenAIResponsesProvider

    return OpenAIResponsesProvider()


def _completions(prefix: str) -> Provider:
    from .openai_completions import OpenAICompletionsProvider

    return OpenAICompletionsProvider(prefix)


def _anthropic(prefix: str) -> Provider:
    from .anthropic import AnthropicProvider

    return AnthropicProvider()


def _gemini(prefix: str) -> Provider:
    from .gemini import GeminiProvider

    return GeminiProvider()


def _ollama(prefix: str) -> Provider:
    from .ollama import OllamaProvider

    return OllamaProvider()


def _ollama_generate(prefix: str) -> Provider:
    from .ollama import OllamaGenerateProvider

    return OllamaGenerateProvider()


PROVIDERS: dict[str, ProviderInfo] = {
    p.prefix: p
    for p in (
        ProviderInfo(
            "openai", ("OPENAI_API_KEY",), "OPENAI_BASE_URL", "https://api.openai.com/v1", True,
            _openai, _completions,
        ),
        ProviderInfo(
            "openai-responses", ("OPENAI_API_KEY",), "OPENAI_BASE_URL",
            "https://api.openai.com/v1", True, _responses,
        ),
        ProviderInfo(
            "anthropic", ("ANTHROPIC_API_KEY",), "ANTHROPIC_BASE_URL",
            "https://api.anthropic.com", True, _anthropic,
        ),
        ProviderInfo(
            "gemini", ("GEMINI_API_KEY", "GOOGLE_API_KEY"), "GEMINI_BASE_URL",
            "https://generativelanguage.googleapis.com", True, _gemini,
        ),
        ProviderInfo(
            "ollama", ("OLLAMA_API_KEY",), "OLLAMA_HOST", "http://localhost:11434", False,
            _ollama, _ollama_generate,
        ),
        ProviderInfo(
            "mistral", ("MISTRAL_API_KEY",), "MISTRAL_BASE_URL", "https://api.mistral.ai/v1", True,
            _mistral,
        ),
        ProviderInfo(
            "openrouter", ("OPENROUTER_API_KEY",), "OPENROUTER_BASE_URL",
            "https://openrouter.ai/api/v1", True, _openrouter,
        ),
        ProviderInfo(
            "openai-compatible", ("OPENAI_COMPATIBLE_API_KEY",), "OPENAI_COMPATIBLE_BASE_URL",
            None, False, _compatible, _completions,
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


class _Environment:
    """The environment keys and base URLs are read from, with a repr that
    shows none of it (``os.environ`` in a frame's locals would show every
    key in a traceback printed with its locals)."""

    __slots__ = ("_env",)

    def __init__(self, env: Mapping[str, str] | None) -> None:
        self._env = os.environ if env is None else env

    def __repr__(self) -> str:
        return "<environment>"

    def get(self, name: str) -> str | None:
        return self._env.get(name) or None

    def key(self, info: ProviderInfo) -> tuple[Secret, str] | None:
        """The provider's key from its variables, with the variable's name."""
        for name in info.key_env:
            value = self._env.get(name)
            if value:
                return Secret(value), name
        return None


def _base_url(info: ProviderInfo, base_url: str | None, default_base_url: str | None,
              env: _Environment) -> tuple[str, bool]:
    """The base URL for ``info``'s provider, and whether it is the provider's
    own: given for it (a call's or a route's ``base_url``), its own variable,
    or its default host. A client-wide default is its own only for a
    provider that has no host of its own (``openai-compatible``)."""
    if base_url is not None:
        return base_url, True
    if default_base_url is not None:
        return default_base_url, info.default_base is None or _same_origin(
            default_base_url, info.default_base)
    url = env.get(info.base_env) if info.base_env is not None else None
    if url is not None:
        return (_normalize_ollama_host(url) if info.prefix == "ollama" else url), True
    if info.default_base is None:
        raise ConfigurationError(
            f"{info.prefix}/ needs a base_url (for example base_url='http://127.0.0.1:8000/v1') "
            f"or the {info.base_env} environment variable"
        )
    return info.default_base, True


def _same_origin(a: str, b: str) -> bool:
    def origin(url: str) -> str:
        scheme, _, rest = url.partition("://")
        return f"{scheme.lower()}://{rest.split('/', 1)[0].lower()}"

    return origin(a) == origin(b)


def _key(info: ProviderInfo, api_key: str | Secret | None, url: str, own_url: bool,
         env: _Environment) -> Secret | None:
    """The key to send: the one given, else the provider's from the
    environment, which only ever goes to a base URL of that provider."""
    if isinstance(api_key, Secret):
        return api_key
    if api_key:
        return Secret(api_key)
    found = env.key(info)
    if found is None:
        if info.key_required:
            raise ConfigurationError(
                f"no API key for {info.prefix}/: pass api_key=... or set "
                + " or ".join(info.key_env)
            )
        return None
    if not own_url:
        raise ConfigurationError(
            f"not sending {found[1]} (a key of {info.prefix}/, from the environment) to "
            f"{url}: that base URL was set on the Client for every provider, not for "
            f"{info.prefix}/. Give base_url=... in the call (or a router route) for "
            f"{info.prefix}/, or pass api_key=... explicitly, to send a key there on purpose"
        )
    return found[0]


def resolve(
    model: str,
    *,
    base_url: str | None = None,
    default_base_url: str | None = None,
    api_key: str | Secret | None = None,
    api: str | None = None,
    kind: str = "chat",
    headers: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[Provider, ProviderConfig]:
    """The codec and configuration for ``model``.

    Keys go only to their own provider: a key taken from the environment is
    sent to the provider's default host, its own base URL variable, or a
    ``base_url`` given for that provider, never to a client-wide default
    that was set for another one (``ConfigurationError`` then).

    Args:
        model: ``provider/model``.
        base_url: the base URL for this provider (a call's, a route's).
        default_base_url: a base URL for any provider (a ``Client``'s own).
        api_key: the key (overrides the environment; sent wherever asked).
        api: ``"responses"`` selects the OpenAI Responses API for ``openai/``.
        kind: ``"chat"`` or ``"completion"`` (legacy text completions).
        headers: extra headers for every request.
        env: the environment to read (``os.environ`` by default).

    Raises:
        ConfigurationError: unknown provider, no key where one is required, no
            base URL for ``openai-compatible``, a kind the provider lacks, or
            an environment key that would go to another provider's host.
    """
    environment = _Environment(env)
    del env
    prefix, name = split_model(model)
    info = _provider_info(prefix, api)
    factory = _factory(info, kind)
    url, own_url = _base_url(info, base_url, default_base_url, environment)
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"base_url must start with http:// or https://, got {url!r}")
    key = _key(info, api_key, url, own_url, environment)
    del api_key  # from here on the key lives only in a Secret
    config = ProviderConfig(info.prefix, name, url.rstrip("/"), key, dict(headers or {}))
    return factory(info.prefix), config


def _provider_info(prefix: str, api: str | None) -> ProviderInfo:
    if api not in (None, "chat", "responses"):
        raise ConfigurationError(f"api must be 'chat' or 'responses', got {api!r}")
    info = PROVIDERS["openai-responses" if api == "responses" and prefix == "openai" else prefix]
    if api == "responses" and info.prefix != "openai-responses":
        raise ConfigurationError(f"api='responses' is only available for openai/, not {prefix}/")
    return info


def _factory(info: ProviderInfo, kind: str) -> Callable[[str], Provider]:
    if kind == "completion":
        if info.completion_factory is None:
            raise ConfigurationError(
                f"{info.prefix}/ has no text-completion endpoint; use chat() with messages instead"
            )
        return info.completion_factory
    if kind != "chat":
        raise ConfigurationError(f"kind must be 'chat' or 'completion', got {kind!r}")
    return info.factory
