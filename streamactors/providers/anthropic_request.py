"""The request half of the Anthropic Messages codec: OpenAI-form requests in,
Messages API bodies out (the conversation itself: ``anthropic_turns``).

Request fields follow ``FIELDS``: each one is translated into the Messages
API's own form, passed as it is, or refused before any request with what to
use instead. ``reasoning_effort`` becomes a ``thinking`` budget
(``EFFORT_BUDGETS``), kept below ``max_tokens`` as the API requires.
``user``/``safety_identifier`` become ``metadata.user_id``, the only key the
API takes in ``metadata``. ``n`` is not in the table: ``n=1`` is accepted and
dropped (one answer per stream, as always), any other ``n`` is refused.
``mcp_servers`` and ``context_management`` are beta fields: they need the
matching ``anthropic-beta`` header (``headers=``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._output import OutputSpec
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
from ._output_tool import output_tool
from .anthropic_turns import anthropic_messages

__all__ = ["DEFAULT_MAX_TOKENS", "EFFORT_BUDGETS", "FIELDS", "anthropic_body"]

_NAME = "anthropic"

#: ``max_tokens`` is required by the API; used when the caller gives none
#: (on top of the thinking budget, which must fit below it).
DEFAULT_MAX_TOKENS = 4096

#: ``reasoning_effort`` -> ``thinking.budget_tokens`` (None: thinking disabled).
#: 1024 is the smallest budget the API takes, so ``minimal`` and ``low`` share
#: it; ``none`` turns thinking off (``{"type": "disabled"}``).
EFFORT_BUDGETS: Mapping[str, int | None] = {
    "none": None, "minimal": 1024, "low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768,
}

_NO_SAMPLING = ("the Messages API has no repetition penalties; leave it out (temperature, "
                "top_p and top_k are the sampling controls it has)")
_NO_LOGPROBS = "the Messages API returns no log probabilities; leave it out"
_TEXT_ONLY = "Claude answers in text only through the Messages API; leave it out"

#: Every request field the codec takes, and what it does with it.
FIELDS: FieldTable = {
    "n": implied(1, "the Messages API gives one answer per request; start one stream per "
                    "answer"),
    # OpenAI Chat Completions fields, translated
    "max_tokens": translated("max_tokens"),
    "max_completion_tokens": translated("max_tokens"),
    "stop": translated("stop_sequences"),
    "tools": translated("tools", "function tools become {name, description, input_schema}; "
                                 "Anthropic tools pass as they are"),
    "tool_choice": translated("tool_choice", "'required' becomes {'type': 'any'}"),
    "parallel_tool_calls": translated("tool_choice.disable_parallel_tool_use",
                                      "False disables parallel tool use"),
    "user": translated("metadata.user_id"),
    "safety_identifier": translated("metadata.user_id"),
    "reasoning_effort": translated("thinking", "none: disabled; minimal/low: 1024, medium: "
                                               "4096, high: 16384, xhigh: 32768 budget tokens"),
    # passed as they are: shared names and the Messages API's own fields
    "temperature": PASSED,
    "top_p": PASSED,
    "top_k": PASSED,
    "service_tier": PASSED,
    "metadata": PASSED,
    "thinking": PASSED,
    "system": PASSED,
    "stop_sequences": PASSED,
    "cache_control": PASSED,
    "container": PASSED,
    "inference_geo": PASSED,
    "output_config": PASSED,
    "mcp_servers": PASSED,
    "context_management": PASSED,
    # OpenAI-only fields, refused with what to do instead
    "frequency_penalty": refused(_NO_SAMPLING),
    "presence_penalty": refused(_NO_SAMPLING),
    "seed": refused("the Messages API has no seed (answers cannot be made reproducible); "
                    "leave it out"),
    "logprobs": refused(_NO_LOGPROBS),
    "top_logprobs": refused(_NO_LOGPROBS),
    "logit_bias": refused("the Messages API has no logit bias; leave it out (stop_sequences "
                          "or instructions in the prompt may do)"),
    "audio": refused(_TEXT_ONLY),
    "modalities": refused(_TEXT_ONLY),
    "prediction": refused("the Messages API has no predicted outputs; leave it out"),
    "store": refused("Anthropic keeps no answers for later retrieval; leave it out"),
    "web_search_options": refused("add Anthropic's web search tool to tools instead: "
                                  "{'type': 'web_search_20250305', 'name': 'web_search'}"),
    "verbosity": refused("the Messages API has no verbosity setting; ask for the length in "
                         "the prompt, or cap it with max_tokens"),
    "prompt_cache_key": refused("Anthropic caches by prompt prefix: mark the end of the "
                                "prefix with cache_control on a content block (or give "
                                "cache_control= for the whole request) instead"),
    "response_format": translated("tool_choice", "a tool the model must call, whose input "
                                  "is the answer (given back as text)"),
    "functions": refused("use tools= (functions is OpenAI's deprecated form)"),
    "function_call": refused("use tool_choice= (function_call is OpenAI's deprecated form)"),
    "stream_options": refused("Anthropic always sends usage in the stream; leave it out"),
}

_SERVICE_TIERS = ("auto", "standard_only")

def _tool_specs(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, Sequence):
        raise ConfigurationError(f"{_NAME}: tools must be a list")
    out: list[dict[str, Any]] = []
    for tool in tools:
        fn = function_tool(tool, _NAME)
        if fn is None:
            if "name" not in tool:
                raise ConfigurationError(
                    f"{_NAME}: tools must be function tools or Anthropic tools, got {tool!r:.80}"
                )
            out.append(dict(tool))  # an Anthropic-native tool definition
            continue
        spec: dict[str, Any] = {"name": fn.name}
        if fn.description:
            spec["description"] = fn.description
        spec["input_schema"] = dict(fn.parameters or {"type": "object", "properties": {}})
        out.append(spec)
    return out


def _tool_choice(choice: Any) -> dict[str, Any]:
    if isinstance(choice, Mapping) and choice.get("type") in ("auto", "any", "tool", "none"):
        return dict(choice)  # already in Anthropic form
    parsed = parse_tool_choice(choice, _NAME)
    if parsed.mode == "function":
        return {"type": "tool", "name": parsed.name}
    return {"type": {"auto": "auto", "none": "none", "required": "any"}[parsed.mode]}


def _put_tools(body: dict[str, Any], params: dict[str, Any]) -> None:
    """``tools``, ``tool_choice`` and ``parallel_tool_calls`` (which the API
    spells ``tool_choice.disable_parallel_tool_use``)."""
    tools = params.pop("tools", None)
    choice = params.pop("tool_choice", None)
    parallel = params.pop("parallel_tool_calls", None)
    if parallel is not None and not isinstance(parallel, bool):
        raise ConfigurationError(f"{_NAME}: parallel_tool_calls must be True or False, "
                                 f"got {parallel!r}")
    if tools:
        body["tools"] = _tool_specs(tools)
    if choice is not None:
        body["tool_choice"] = _tool_choice(choice)
    if parallel is False and tools:
        tc = body.setdefault("tool_choice", {"type": "auto"})
        if tc.get("type") != "none":  # the API refuses the flag on "none"
            tc["disable_parallel_tool_use"] = True


def _user_id(params: dict[str, Any], metadata: Mapping[str, Any] | None) -> str | None:
    """The one user id of ``user``, ``safety_identifier`` and
    ``metadata.user_id`` (they must agree when several are given)."""
    given = {name: value for name, value in (
        ("user", params.pop("user", None)),
        ("safety_identifier", params.pop("safety_identifier", None)),
        ("metadata.user_id", metadata.get("user_id") if metadata is not None else None),
    ) if value is not None}
    for name, value in given.items():
        if not isinstance(value, str):
            raise ConfigurationError(f"{_NAME}: {name} must be a string (an opaque user id), "
                                     f"got {type(value).__name__}")
    if len(set(given.values())) > 1:
        raise ConfigurationError(
            f"{_NAME}: {', '.join(given)} all become metadata.user_id but differ; give one")
    return next(iter(given.values()), None)


def _put_metadata(body: dict[str, Any], params: dict[str, Any]) -> None:
    """``metadata`` (only ``user_id`` is valid there), filled from ``user``
    or ``safety_identifier``."""
    metadata = params.pop("metadata", None)
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise ConfigurationError(f"{_NAME}: metadata must be an object {{'user_id': ...}}")
        other = sorted(str(key) for key in metadata if key != "user_id")
        if other:
            raise ConfigurationError(
                f"{_NAME}: metadata may only hold 'user_id' (the Messages API refuses other "
                f"keys), got {', '.join(map(repr, other))}; keep such tags on your side")
    user_id = _user_id(params, metadata)
    if user_id is not None:
        body["metadata"] = {"user_id": user_id}
    elif metadata is not None:
        body["metadata"] = dict(metadata)


def _thinking(params: dict[str, Any]) -> tuple[Any, str]:
    """The ``thinking`` to send (from ``thinking=`` or ``reasoning_effort``),
    and the name of the field it came from."""
    native = params.pop("thinking", None)
    effort = params.pop("reasoning_effort", None)
    if effort is None:
        return native, "thinking"
    if native is not None:
        raise ConfigurationError(f"{_NAME}: give reasoning_effort or thinking, not both")
    if not isinstance(effort, str) or effort not in EFFORT_BUDGETS:
        raise ConfigurationError(
            f"{_NAME}: reasoning_effort must be one of {', '.join(EFFORT_BUDGETS)}, got "
            f"{effort!r:.40}; or give thinking={{'type': 'enabled', 'budget_tokens': N}}")
    budget = EFFORT_BUDGETS[effort]
    if budget is None:
        return {"type": "disabled"}, "reasoning_effort"
    return {"type": "enabled", "budget_tokens": budget}, f"reasoning_effort={effort!r}"


def _put_limits(body: dict[str, Any], params: dict[str, Any]) -> None:
    """``max_tokens`` and ``thinking``: the API wants the thinking budget
    below ``max_tokens``, so the default leaves room above the budget and a
    given limit at or under it is refused here rather than by a 400."""
    limit = max_output_tokens(params, _NAME)
    params.pop("max_tokens", None)
    params.pop("max_completion_tokens", None)
    thinking, source = _thinking(params)
    budget = thinking.get("budget_tokens") if isinstance(thinking, Mapping) else None
    if type(budget) is not int:
        budget = None
    if thinking is not None:
        body["thinking"] = thinking
    if limit is None:
        limit = DEFAULT_MAX_TOKENS + (budget or 0)
    elif budget is not None and budget >= limit:
        raise ConfigurationError(
            f"{_NAME}: max_tokens ({limit}) must be above the thinking budget ({budget} tokens "
            f"from {source}); raise max_tokens, lower the budget, or leave max_tokens out "
            f"(the default is {DEFAULT_MAX_TOKENS} above the budget)")
    body["max_tokens"] = limit


def _put_system(body: dict[str, Any], system: str | None, params: dict[str, Any]) -> None:
    native = params.pop("system", None)
    if native is not None and system is not None:
        raise ConfigurationError(f"{_NAME}: give the system prompt as messages or as system=, "
                                 "not both")
    if native is not None or system is not None:
        body["system"] = system if native is None else native


def _put_stop(body: dict[str, Any], params: dict[str, Any]) -> None:
    stop = params.pop("stop", None)
    if stop is None:
        return
    if "stop_sequences" in params:
        raise ConfigurationError(f"{_NAME}: give stop or stop_sequences, not both")
    body["stop_sequences"] = stop_sequences(stop, _NAME)


def _check_fields(params: Mapping[str, Any]) -> None:
    """``check_fields`` for every field at once: one error names each field
    refused or unknown (a request giving ``logprobs`` with ``top_logprobs``
    hears about both, not one per attempt)."""
    problems: list[str] = []
    for name in params:
        try:
            check_fields(_NAME, {name: params[name]}, FIELDS)
        except ConfigurationError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigurationError("; ".join(problems))


def _check_service_tier(params: Mapping[str, Any]) -> None:
    tier = params.get("service_tier")
    if tier is not None and (not isinstance(tier, str) or tier not in _SERVICE_TIERS):
        raise ConfigurationError(
            f"{_NAME}: service_tier must be 'auto' or 'standard_only', got {tier!r:.40} "
            "(OpenAI's 'default', 'flex' and 'priority' tiers have no Anthropic equivalent)")


def anthropic_output(request: RequestInput) -> OutputSpec | None:
    """The answer format of ``request``, if it asks for JSON: sent as a tool
    the model must call (the Messages API has no JSON answer format)."""
    if request.output is not None:
        return request.output
    schema = response_schema(request.params.get("response_format", {"type": "text"}), _NAME)
    if schema is None:
        return None
    if not isinstance(schema, Mapping):  # json_object: any object
        return OutputSpec("json_object", {"type": "object"}, strict=False)
    spec = request.params["response_format"]["json_schema"]
    name = spec.get("name") if isinstance(spec.get("name"), str) else "output"
    return OutputSpec(name, schema, strict=False)


def _put_output(params: dict[str, Any], output: OutputSpec | None) -> None:
    """``response_format`` as the forced tool (``_put_tools`` translates it)."""
    params.pop("response_format", None)
    if output is None:
        return
    if params.get("thinking") is not None or params.get("reasoning_effort") is not None:
        raise ConfigurationError(
            f"{_NAME}: response_format is sent as a tool the model must call, which "
            "extended thinking does not allow; drop reasoning_effort/thinking, or "
            "response_format")
    params["tools"] = [output_tool(output, params, _NAME)]
    params["tool_choice"] = {"type": "function", "function": {"name": output.name}}


def anthropic_body(model: str, request: RequestInput) -> dict[str, Any]:
    """The Messages API body for ``request`` (``ConfigurationError`` for a
    field refused or unknown, or a value the API would refuse)."""
    params = dict(request.params)
    params.pop("stream", None)  # the codec always streams (api.py refuses stream=False)
    _check_fields(params)
    params = without_implied(params, FIELDS)
    _put_output(params, anthropic_output(request))
    system, messages = anthropic_messages(request_messages(request, _NAME))
    body: dict[str, Any] = {"model": model, "messages": messages}
    _put_limits(body, params)
    _put_system(body, system, params)
    _put_stop(body, params)
    _put_tools(body, params)
    _put_metadata(body, params)
    _check_service_tier(params)
    body.update(params)  # the passed fields left: temperature, top_p, top_k, service_tier...
    body["stream"] = True
    return body
