"""The request fields of the OpenAI-family codecs, and how each is sent.

One table per wire format and server (see ``_fields.py`` for what a table
means): OpenAI Chat Completions, Mistral, OpenRouter, OpenAI-compatible
servers, the Responses API and legacy text completions. Each field is passed,
translated into the server's own name, or refused with what to use instead,
so nothing reaches an API that would answer 400 (Mistral's API, for one, has
answered 422 ``extra_forbidden`` for fields it does not know).

The tables are read-only module constants, typed ``FieldTable`` so mypy checks
every row. ``apply_fields`` writes the fields of a request into a body as its
table says; the codecs give it the few translations that change a value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from ..errors import ConfigurationError
from ._fields import PASSED, Field, FieldTable, refused, translated

__all__ = [
    "COMPATIBLE_CHAT",
    "COMPATIBLE_COMPLETIONS",
    "MISTRAL_CHAT",
    "OMIT",
    "OPENAI_CHAT",
    "OPENAI_COMPLETIONS",
    "OPENROUTER_CHAT",
    "RESPONSES",
    "Translator",
    "apply_fields",
]

#: What a translator returns to send nothing for a field (``logprobs=False``).
OMIT: Any = object()

#: Turns a field's value into what is written at its ``to`` path (or ``OMIT``).
Translator = Callable[[Any], Any]


def _table(*parts: Mapping[str, Field]) -> FieldTable:
    """A read-only table from ``parts`` (later parts override earlier rows)."""
    merged: dict[str, Field] = {}
    for part in parts:
        merged.update(part)
    return MappingProxyType(dict(sorted(merged.items())))


def _passed(names: Iterable[str]) -> dict[str, Field]:
    return {name: PASSED for name in names}


def _refused(note: str, names: Iterable[str]) -> dict[str, Field]:
    """The same refusal for fields that come together (``logprobs`` with
    ``top_logprobs``): whichever is checked first, the note names them all."""
    return {name: refused(note) for name in names}


# --------------------------------------------------------------------------- chat

#: Every request field of OpenAI Chat Completions (``/v1/chat/completions``),
#: besides ``model``, ``messages`` and ``stream``, which the codec writes.
_OPENAI_CHAT_NAMES = (
    "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
    "max_completion_tokens", "max_tokens", "metadata", "modalities", "n",
    "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key",
    "prompt_cache_retention", "reasoning_effort", "response_format", "safety_identifier",
    "seed", "service_tier", "stop", "store", "stream_options", "temperature", "tool_choice",
    "tools", "top_logprobs", "top_p", "user", "verbosity", "web_search_options",
)

_NO_TOP_K = "OpenAI has no top-k sampling; use top_p (or temperature)"

OPENAI_CHAT: FieldTable = _table(_passed(_OPENAI_CHAT_NAMES), {"top_k": refused(_NO_TOP_K)})

#: Sampling fields the common self-hosted servers take beside OpenAI's (vLLM,
#: SGLang, llama.cpp's server, LM Studio); ``chat_template_kwargs`` switches a
#: model's thinking on or off on vLLM, SGLang and llama.cpp.
_SELF_HOSTED_SAMPLING = ("top_k", "min_p", "repetition_penalty", "repeat_penalty", "min_tokens")

COMPATIBLE_CHAT: FieldTable = _table(
    OPENAI_CHAT, _passed(_SELF_HOSTED_SAMPLING), {"chat_template_kwargs": PASSED}
)

#: OpenRouter takes every OpenAI field (it drops those the chosen model cannot
#: use) plus its routing and sampling fields.
OPENROUTER_CHAT: FieldTable = _table(
    OPENAI_CHAT,
    _passed(("top_k", "min_p", "top_a", "repetition_penalty", "models", "route", "provider",
             "transforms", "reasoning", "usage", "plugins", "session_id")),
    {"reasoning_effort": translated("reasoning.effort")},
)

_MISTRAL_NO_LOGPROBS = "Mistral returns no log-probabilities; drop 'logprobs' and 'top_logprobs'"
_MISTRAL_NO_FUNCTIONS = ("use tools and tool_choice ('functions' and 'function_call' are "
                         "OpenAI's deprecated forms of them)")
_MISTRAL_NO_USER = "Mistral has no end-user field; put it in metadata={'user': ...}"

#: Mistral's chat completions (docs.mistral.ai/api, and the request model of
#: its Python SDK 2.5). Its API answers 422 for fields it does not know;
#: ``stream_options`` is not in its documentation, but requests recorded from
#: it in 2026 carried ``{"include_usage": true}`` and were answered.
MISTRAL_CHAT: FieldTable = _table(
    _passed(("frequency_penalty", "max_tokens", "metadata", "n", "parallel_tool_calls",
             "prediction", "presence_penalty", "prompt_cache_key", "prompt_mode",
             "random_seed", "reasoning_effort", "response_format", "safe_prompt", "stop",
             "stream_options", "temperature", "tool_choice", "tools", "top_p")),
    {"seed": translated("random_seed"), "max_completion_tokens": translated("max_tokens")},
    _refused(_MISTRAL_NO_LOGPROBS, ("logprobs", "top_logprobs")),
    _refused(_MISTRAL_NO_FUNCTIONS, ("functions", "function_call")),
    _refused(_MISTRAL_NO_USER, ("user", "safety_identifier")),
    _refused("Mistral chat answers in text only; drop 'audio' and 'modalities'",
             ("audio", "modalities")),
    {
        "logit_bias": refused("Mistral has no logit bias; drop it"),
        "store": refused("Mistral does not store chat completions; drop it"),
        "service_tier": refused("Mistral has no service tiers; drop it"),
        "web_search_options": refused(
            "Mistral chat completions have no built-in web search; drop it"),
        "verbosity": refused(
            "Mistral has no verbosity setting; ask for brevity in the prompt or set max_tokens"),
        "prompt_cache_retention": refused(
            "Mistral has no cache retention setting; drop it (prompt_cache_key is passed)"),
        "top_k": refused("Mistral has no top-k sampling; use top_p (or temperature)"),
    },
)

# --------------------------------------------------------------------------- legacy completions

_NO_TOOLS_IN_COMPLETIONS = (
    "text completions have no tools; use chat() for 'tools', 'tool_choice', "
    "'parallel_tool_calls', 'functions' and 'function_call'"
)


def _chat_only(what: str) -> Field:
    return refused(f"text completions have no {what}; use chat() instead")


#: Legacy text completions (``/v1/completions``).
OPENAI_COMPLETIONS: FieldTable = _table(
    _passed(("best_of", "echo", "frequency_penalty", "logit_bias", "max_tokens", "n",
             "presence_penalty", "seed", "stop", "stream_options", "suffix", "temperature",
             "top_p", "user")),
    {
        "max_completion_tokens": translated("max_tokens"),
        "logprobs": translated(
            "logprobs", "true becomes 0 (the chosen tokens' log-probabilities); an integer "
            "(how many alternatives per token, 0-5) is sent as it is"),
        "top_logprobs": translated("logprobs", "sent as logprobs=<n>, the legacy form"),
    },
    _refused(_NO_TOOLS_IN_COMPLETIONS,
             ("tools", "tool_choice", "parallel_tool_calls", "functions", "function_call")),
    {
        "response_format": _chat_only("response format"),
        "reasoning_effort": _chat_only("reasoning effort"),
        "verbosity": _chat_only("verbosity setting"),
        "audio": _chat_only("audio output"),
        "modalities": _chat_only("output modalities"),
        "prediction": _chat_only("predicted outputs"),
        "web_search_options": _chat_only("web search"),
        "metadata": _chat_only("metadata"),
        "store": _chat_only("stored completions"),
        "service_tier": _chat_only("service tiers"),
        "prompt_cache_key": _chat_only("prompt cache key"),
        "prompt_cache_retention": _chat_only("prompt cache retention"),
        "safety_identifier": _chat_only("safety identifier"),
        "top_k": refused("OpenAI has no top-k sampling; use top_p (or temperature)"),
    },
)

#: Legacy text completions on a self-hosted server: its sampling extras too.
COMPATIBLE_COMPLETIONS: FieldTable = _table(OPENAI_COMPLETIONS, _passed(_SELF_HOSTED_SAMPLING))

# --------------------------------------------------------------------------- Responses


def _chat_api_only(what: str) -> Field:
    return refused(f"the Responses API has no {what}; use Chat Completions "
                   "(drop api='responses')")


#: The Responses API (``/v1/responses``). Chat-form fields are translated;
#: conversation state goes in ``messages`` (Responses items may be mixed in).
RESPONSES: FieldTable = _table(
    _passed(("background", "conversation", "include", "instructions", "max_output_tokens",
             "max_tool_calls", "metadata", "parallel_tool_calls", "previous_response_id",
             "prompt", "prompt_cache_key", "prompt_cache_retention", "reasoning",
             "safety_identifier", "service_tier", "store", "temperature", "text",
             "top_logprobs", "top_p", "truncation", "user")),
    {
        "max_tokens": translated("max_output_tokens"),
        "max_completion_tokens": translated("max_output_tokens"),
        "response_format": translated("text.format"),
        "verbosity": translated("text.verbosity"),
        "reasoning_effort": translated("reasoning.effort"),
        "tools": translated("tools", "function tools flattened to the Responses form"),
        "tool_choice": translated("tool_choice", "a function choice flattened"),
        "logprobs": translated("include", "true adds 'message.output_text.logprobs'"),
        "stream_options": translated(
            "stream_options", "include_usage dropped: usage always comes"),
    },
    _refused("use tools and tool_choice ('functions' and 'function_call' are the deprecated "
             "Chat Completions forms)", ("functions", "function_call")),
    _refused("audio output is a Chat Completions feature; drop api='responses' for "
             "'audio' and 'modalities'", ("audio", "modalities")),
    {
        "n": _chat_api_only("n (one answer per request); make n requests"),
        "stop": _chat_api_only("stop sequences"),
        "seed": _chat_api_only("seed"),
        "frequency_penalty": _chat_api_only("frequency penalty"),
        "presence_penalty": _chat_api_only("presence penalty"),
        "logit_bias": _chat_api_only("logit bias"),
        "prediction": _chat_api_only("predicted outputs"),
        "web_search_options": refused("add {'type': 'web_search'} to tools instead"),
        "top_k": refused("OpenAI has no top-k sampling; use top_p (or temperature)"),
        "input": refused(
            "give the conversation as messages; Responses input items (objects with a "
            "'type', such as item_reference) may be mixed into messages and are sent as "
            "they are"),
    },
)

# --------------------------------------------------------------------------- writing a body


def apply_fields(
    body: dict[str, Any],
    params: Mapping[str, Any],
    table: FieldTable,
    provider: str,
    translators: Mapping[str, Translator] | None = None,
) -> None:
    """Write every field of ``params`` into ``body`` as ``table`` says.

    A passed field lands under its own name, a translated one at its ``to``
    path (through ``translators[name]`` when its value changes form). Two
    fields landing on the same place must agree (objects merge key by key),
    else a ``ConfigurationError`` names both. Objects on the way are copied,
    never the caller's own changed. Call ``check_fields`` first: a field
    missing from ``table`` is a ``KeyError`` here.
    """
    origins: dict[str, str] = {}
    for name, value in params.items():
        rule = table[name]
        path = name if rule.action == "passed" else rule.to
        if translators is not None and name in translators:
            value = translators[name](value)
            if value is OMIT:
                continue
        _place(body, path, value, _Origin(provider, name, origins))
        origins.setdefault(path, name)


class _Origin:
    """Who writes a value, and who wrote where before: for the error text."""

    __slots__ = ("field", "origins", "provider")

    def __init__(self, provider: str, field: str, origins: dict[str, str]) -> None:
        self.provider = provider
        self.field = field
        self.origins = origins

    def conflict(self, path: str, old: Any, new: Any) -> ConfigurationError:
        other = next((f for p, f in self.origins.items()
                      if path == p or path.startswith(p + ".")), "another field")
        return ConfigurationError(
            f"{self.provider}: the request fields {other!r} and {self.field!r} disagree on "
            f"{path} ({old!r:.60} vs {new!r:.60}); give one of them"
        )


def _place(body: dict[str, Any], path: str, value: Any, origin: _Origin) -> None:
    """Write ``value`` at the dotted ``path`` of ``body``, merging objects."""
    *parents, leaf = path.split(".")
    target = body
    for depth, part in enumerate(parents):
        inner = target.get(part)
        if inner is not None and not isinstance(inner, Mapping):
            raise ConfigurationError(
                f"{origin.provider}: {origin.field!r} goes into "
                f"{'.'.join(parents[:depth + 1])}, which is not an object ({inner!r:.60})"
            )
        target[part] = inner = dict(inner or {})
        target = inner
    if leaf in target:
        value = _merged(target[leaf], value, path, origin)
    target[leaf] = value


def _merged(old: Any, new: Any, path: str, origin: _Origin) -> Any:
    """One value from two written at the same place: objects merge key by
    key, lists join (``include`` from ``logprobs`` and ``include``), equal
    values are one; anything else is a conflict."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out = dict(old)
        for key, value in new.items():
            out[key] = _merged(out[key], value, f"{path}.{key}", origin) if key in out else value
        return out
    if isinstance(old, list) and isinstance(new, list):
        return old + [v for v in new if v not in old]
    if old == new:
        return old
    raise origin.conflict(path, old, new)
