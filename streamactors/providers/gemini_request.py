"""The body of a Gemini ``generateContent`` request, from normalized parameters.

Every field a request may carry is declared in ``FIELDS``: OpenAI's sampling
fields land in ``generationConfig`` under Gemini's names, tools in
``tools[].functionDeclarations``, ``tool_choice`` in ``toolConfig``; Gemini's
own request fields pass as given; OpenAI fields Gemini has no equivalent for
are refused before any request, saying what to use instead (the real API
answers 400 for a field it does not know).

``reasoning_effort`` becomes ``generationConfig.thinkingConfig``:

* Gemini 3 and later (a model named ``gemini-3...``, ``gemini-4``...) take a
  ``thinkingLevel``: ``minimal``, ``low``, ``medium`` and ``high`` as they are,
  ``xhigh`` as ``high`` (their highest). ``none`` is refused: these models
  cannot turn thinking off (``minimal`` is the least they do).
* Every other model (Gemini 2.5, aliases such as ``gemini-flash-latest``)
  gets a ``thinkingBudget`` in tokens: ``none`` 0 (thinking off; 2.5 Pro,
  which always thinks, answers 400), ``minimal`` 512 (the smallest budget
  every 2.5 model takes: Flash-Lite's floor), ``low`` 1024, ``medium`` 8192,
  ``high`` and ``xhigh`` 24576 (the budgets of Gemini's own OpenAI-compatible
  API; 24576 is 2.5 Flash's ceiling). Gemini 3 still reads a budget, so an
  alias that names one is never refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigurationError
from ._base import RequestInput
from ._fields import (
    PASSED,
    FieldTable,
    check_fields,
    implied,
    refused,
    translated,
    without_implied,
)
from ._messages import (
    function_tool,
    max_output_tokens,
    parse_tool_choice,
    request_messages,
    response_schema,
    stop_sequences,
)
from .gemini_contents import gemini_contents

__all__ = ["FIELDS", "gemini_body", "thinking_for"]

_NAME = "gemini"
_G = "generationConfig."

#: OpenAI name -> generationConfig name, for values that go over unchanged.
_GENERATION = {
    "temperature": "temperature", "top_p": "topP", "top_k": "topK", "seed": "seed",
    "n": "candidateCount", "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty", "logprobs": "responseLogprobs",
    "top_logprobs": "logprobs",
}

_LEAVE_OUT = "Gemini has no such setting; leave it out"

FIELDS: FieldTable = {
    **{ours: translated(_G + theirs) for ours, theirs in _GENERATION.items()},
    "max_tokens": translated(_G + "maxOutputTokens"),
    "max_completion_tokens": translated(_G + "maxOutputTokens"),
    "stop": translated(_G + "stopSequences"),
    "response_format": translated(_G + "responseMimeType",
                                  "application/json, with responseJsonSchema for a schema"),
    "reasoning_effort": translated(_G + "thinkingConfig",
                                   "thinkingLevel (Gemini 3+) or thinkingBudget"),
    "modalities": translated(_G + "responseModalities", "'text' only"),
    "thinkingConfig": translated(_G + "thinkingConfig"),
    "tools": translated("tools", "function tools as functionDeclarations; native tools "
                                 "(googleSearch, codeExecution...) as given"),
    "tool_choice": translated("toolConfig.functionCallingConfig"),
    # Gemini's own generateContent fields.
    "generationConfig": PASSED,
    "safetySettings": PASSED,
    "cachedContent": PASSED,
    "toolConfig": PASSED,
    "systemInstruction": PASSED,
    "user": refused("Gemini has no end-user field; leave it out"),
    "safety_identifier": refused("Gemini has no end-user field; leave it out"),
    "metadata": refused("Gemini has no request metadata; leave it out"),
    "store": refused("Gemini does not store chat completions; leave it out"),
    "service_tier": refused(_LEAVE_OUT),
    "logit_bias": refused(_LEAVE_OUT),
    "audio": refused("the library reads only text from Gemini; leave it out"),
    "prediction": refused("Gemini has no predicted outputs; leave it out"),
    "web_search_options": refused("use tools=[{'googleSearch': {}}] (grounding with Google "
                                  "Search)"),
    "verbosity": refused("Gemini has no verbosity setting; ask for a length in the prompt "
                         "or set max_tokens"),
    "prompt_cache_key": refused("use cachedContent='cachedContents/...' (Gemini's context "
                                "caching)"),
    "parallel_tool_calls": implied(True, "Gemini cannot turn parallel function calls off"),
    "functions": refused("use tools=[{'type': 'function', 'function': {...}}]"),
    "function_call": refused("use tool_choice"),
    "stream_options": refused("Gemini always sends usage; leave stream_options out"),
}

#: reasoning_effort -> thinkingBudget (models before Gemini 3); see the module doc.
_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576,
            "xhigh": 24576}
#: reasoning_effort -> thinkingLevel (Gemini 3 and later).
_LEVELS = {"minimal": "minimal", "low": "low", "medium": "medium", "high": "high",
           "xhigh": "high"}
_MAJOR = re.compile(r"gemini-(\d+)")


def thinking_for(effort: Any, model: str) -> dict[str, Any]:
    """The ``thinkingConfig`` keys for a ``reasoning_effort`` on ``model``."""
    if not isinstance(effort, str) or effort not in _BUDGETS:
        raise ConfigurationError(
            f"{_NAME}: reasoning_effort must be one of {', '.join(map(repr, _BUDGETS))}, "
            f"got {effort!r}"
        )
    major = _MAJOR.match(model.removeprefix("models/"))
    if major is None or int(major.group(1)) < 3:
        return {"thinkingBudget": _BUDGETS[effort]}
    if effort == "none":
        raise ConfigurationError(
            f"{_NAME}: reasoning_effort='none' cannot turn thinking off for {model!r} "
            "(Gemini 3 models always think); use 'minimal', the least they do"
        )
    return {"thinkingLevel": _LEVELS[effort]}


def _object(value: Any, field: str) -> dict[str, Any]:
    """A copy of a native object field; ``ConfigurationError`` if not an object."""
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{_NAME}: {field} must be an object, got {value!r:.80}")
    return dict(value)


def _put(config: dict[str, Any], key: str, value: Any, field: str) -> None:
    """Set ``config[key]``, refusing a different value already given natively."""
    if key in config and config[key] != value:
        raise ConfigurationError(
            f"{_NAME}: {field}={value!r:.60} and generationConfig.{key}="
            f"{config[key]!r:.60} disagree; give one of them"
        )
    config[key] = value


def _modalities(value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ConfigurationError(f"{_NAME}: modalities must be a list such as ['text']")
    for modality in value:
        if modality != "text":
            raise ConfigurationError(
                f"{_NAME}: modalities takes only 'text' (the library reads no audio from "
                f"Gemini), got {modality!r}"
            )
    return ["TEXT"]


def _thinking(params: Mapping[str, Any], generation: dict[str, Any], model: str) -> None:
    """``generationConfig.thinkingConfig`` from ``thinkingConfig=`` (moved
    there as it is) and ``reasoning_effort``."""
    native = params.get("thinkingConfig")
    if native is not None and "thinkingConfig" in generation:
        raise ConfigurationError(f"{_NAME}: thinkingConfig= and generationConfig.thinkingConfig "
                                 "are both given; give one")
    if native is None and "thinkingConfig" not in generation:
        thinking: dict[str, Any] = {}
    else:
        thinking = _object(native if native is not None else generation["thinkingConfig"],
                           "thinkingConfig")
    effort = params.get("reasoning_effort")
    if effort is not None:
        if "thinkingBudget" in thinking or "thinkingLevel" in thinking:
            raise ConfigurationError(f"{_NAME}: reasoning_effort and thinkingConfig both set "
                                     "how much to think; give one")
        thinking.update(thinking_for(effort, model))
    if thinking or native is not None:
        generation["thinkingConfig"] = thinking


def _formats(params: Mapping[str, Any], generation: dict[str, Any]) -> None:
    """``stop``, ``response_format`` and ``modalities``."""
    if "stop" in params:
        _put(generation, "stopSequences", stop_sequences(params["stop"], _NAME), "stop")
    schema = response_schema(params.get("response_format", {"type": "text"}), _NAME)
    if schema is not None:
        _put(generation, "responseMimeType", "application/json", "response_format")
        if isinstance(schema, Mapping):
            _put(generation, "responseJsonSchema", dict(schema), "response_format")
    if "modalities" in params:
        _put(generation, "responseModalities", _modalities(params["modalities"]), "modalities")


def generation_config(params: Mapping[str, Any], model: str) -> dict[str, Any]:
    """``generationConfig``: the native one given, with the translated fields added."""
    native = params.get("generationConfig")
    generation = _object(native, "generationConfig") if native is not None else {}
    for ours, theirs in _GENERATION.items():
        if ours in params:
            _put(generation, theirs, params[ours], ours)
    if "top_logprobs" in params and generation.get("responseLogprobs") is not True:
        raise ConfigurationError(f"{_NAME}: top_logprobs needs logprobs=True")
    limit = max_output_tokens(params, _NAME)
    if limit is not None:
        _put(generation, "maxOutputTokens", limit, "max_tokens")
    _formats(params, generation)
    _thinking(params, generation, model)
    return generation


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


def _tool_config(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """``toolConfig``: the native one given, with ``tool_choice`` translated in."""
    native = params.get("toolConfig")
    config = _object(native, "toolConfig") if native is not None else None
    choice = params.get("tool_choice")
    if choice is None:
        return config
    config = config or {}
    if "functionCallingConfig" in config:
        raise ConfigurationError(f"{_NAME}: tool_choice= and toolConfig.functionCallingConfig "
                                 "are both given; give one")
    parsed = parse_tool_choice(choice, _NAME)
    if parsed.mode == "function":
        calling: dict[str, Any] = {"mode": "ANY", "allowedFunctionNames": [parsed.name]}
    else:
        calling = {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[parsed.mode]}
    config["functionCallingConfig"] = calling
    return config


def gemini_body(model: str, request: RequestInput) -> dict[str, Any]:
    """The JSON body for ``request`` on ``model``; ``ConfigurationError`` for a
    field Gemini cannot take (before any request is made).

    A field given as None counts as not given, and ``parallel_tool_calls=True``
    asks for what Gemini does anyway, so it is left out.
    """
    params = {k: v for k, v in sorted(request.params.items()) if v is not None}
    # In name order: the same field is named whatever order the fields came in.
    check_fields(_NAME, params, FIELDS)
    params = without_implied(params, FIELDS)
    instruction, contents = gemini_contents(request_messages(request, _NAME))
    body: dict[str, Any] = {"contents": contents}
    if instruction is not None:
        if "systemInstruction" in params:
            raise ConfigurationError(f"{_NAME}: systemInstruction= and system messages are "
                                     "both given; give one")
        body["systemInstruction"] = instruction
    generation = generation_config(params, model)
    if generation or "generationConfig" in params:
        body["generationConfig"] = generation
    if params.get("tools"):
        body["tools"] = _declarations(params["tools"])
    tool_config = _tool_config(params)
    if tool_config is not None:
        body["toolConfig"] = tool_config
    for key in ("safetySettings", "cachedContent", "systemInstruction"):
        if key in params:
            body[key] = params[key]
    return body
