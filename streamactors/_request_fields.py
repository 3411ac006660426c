"""The request fields a call may give, typed, so that a type checker catches a
misspelled or mistyped field before any request.

``RequestFields`` lists every field that some codec's ``fields`` table knows
(see ``providers/_fields.py`` and the table in docs/providers.md): for any one
provider each is translated, passed, implied or refused at run time, with a
``ConfigurationError`` naming the field and the fix. So a field here is not a
promise that every provider takes it; it is a promise that the library knows
it and will never send it blind. A field the library does not know at all
goes in ``extra_body``, which is merged into the request body as it is.

Types are what the codecs accept: plain types for scalars, ``Mapping`` and
``Sequence`` of ``Any`` for provider-native structures (a tool, a
``generationConfig``), which the providers validate themselves. A test checks
that the keys here are exactly the keys of every codec's table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypedDict

from pydantic import BaseModel

__all__ = ["CompletionFields", "ReasoningEffort", "RequestFields"]

#: The reasoning efforts the translating codecs map (Anthropic's thinking
#: budget, Gemini's thinking level or budget, Ollama's ``think``).
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]


class CompletionFields(TypedDict, total=False):
    """The fields ``complete()`` takes: every field the text-completion codecs
    (OpenAI ``/completions``, Ollama ``/api/generate``) know, plus
    ``extra_body`` and ``stream``."""

    # Fields the library does not know, merged into the body as they are.
    extra_body: Mapping[str, Any]
    # Always streams: True is accepted (and is what happens), False refused.
    stream: Literal[True]
    # OpenAI Chat Completions, the shape every request is written in.
    audio: Mapping[str, Any]
    frequency_penalty: float
    function_call: str | Mapping[str, Any]
    functions: Sequence[Mapping[str, Any]]
    logit_bias: Mapping[str, float]
    logprobs: bool | int  # an int is the legacy completions' form
    max_completion_tokens: int
    max_tokens: int
    metadata: Mapping[str, Any]
    modalities: Sequence[str]
    n: int
    parallel_tool_calls: bool
    prediction: Mapping[str, Any]
    presence_penalty: float
    prompt_cache_key: str
    prompt_cache_retention: str
    reasoning_effort: ReasoningEffort
    # A Pydantic model class or a JSON Schema: result.parsed, partials() (see
    # docs/structured-output.md); or OpenAI's own form, passed on as it is.
    response_format: Mapping[str, Any] | type[BaseModel]
    safety_identifier: str
    seed: int
    service_tier: str
    stop: str | Sequence[str]
    store: bool
    stream_options: Mapping[str, Any]
    temperature: float
    tool_choice: str | Mapping[str, Any]
    # OpenAI function tools, Pydantic model classes or functions (docs/tool-calls.md)
    tools: Sequence[Mapping[str, Any] | type[BaseModel] | Callable[..., Any]]
    top_logprobs: int
    top_p: float
    user: str
    verbosity: Literal["low", "medium", "high"]
    web_search_options: Mapping[str, Any]
    # Sampling of self-hosted servers, OpenRouter, Anthropic, Gemini and Ollama.
    top_k: int
    min_p: float
    min_tokens: int
    repeat_penalty: float
    repetition_penalty: float
    # Legacy text completions.
    best_of: int
    echo: bool
    suffix: str
    # Ollama's own fields, and its model options (sent in ``options``).
    context: Sequence[int]
    format: str | Mapping[str, Any]  # "json", or a JSON schema
    images: Sequence[str]  # base64
    keep_alive: str | float  # "5m", or seconds
    options: Mapping[str, Any]
    raw: bool
    shift: bool
    system: str | Sequence[Mapping[str, Any]]  # also Anthropic's (text blocks)
    template: str
    think: bool | Literal["low", "medium", "high"]
    truncate: bool
    main_gpu: int
    mirostat: int
    mirostat_eta: float
    mirostat_tau: float
    num_batch: int
    num_ctx: int
    num_gpu: int
    num_keep: int
    num_predict: int
    num_thread: int
    numa: bool
    penalize_newline: bool
    repeat_last_n: int
    typical_p: float
    use_mlock: bool
    use_mmap: bool


class RequestFields(CompletionFields, total=False):
    """The fields ``chat()``, ``stream()``, ``astream()`` and the router's
    methods take: every field any codec knows, plus ``extra_body`` and
    ``stream``. Each provider translates, passes or refuses each one (see
    docs/providers.md)."""

    # OpenRouter.
    models: Sequence[str]
    plugins: Sequence[Mapping[str, Any]]
    provider: Mapping[str, Any]
    reasoning: Mapping[str, Any]  # also the Responses API's
    route: str
    session_id: str
    top_a: float
    transforms: Sequence[str]
    usage: Mapping[str, Any]
    # Mistral.
    prompt_mode: str
    random_seed: int
    safe_prompt: bool
    # Self-hosted servers (vLLM, SGLang, llama.cpp): a model's chat template.
    chat_template_kwargs: Mapping[str, Any]
    # The OpenAI Responses API.
    background: bool
    conversation: str | Mapping[str, Any]
    include: Sequence[str]
    input: str | Sequence[Mapping[str, Any]]  # refused: give messages instead
    instructions: str
    max_output_tokens: int
    max_tool_calls: int
    previous_response_id: str
    prompt: Mapping[str, Any]  # a stored prompt: {"id": ..., "variables": ...}
    text: Mapping[str, Any]
    truncation: Literal["auto", "disabled"]
    # Anthropic's Messages API.
    cache_control: Mapping[str, Any]
    container: str | Mapping[str, Any]
    context_management: Mapping[str, Any]
    inference_geo: str
    mcp_servers: Sequence[Mapping[str, Any]]
    output_config: Mapping[str, Any]
    stop_sequences: Sequence[str]
    thinking: Mapping[str, Any]
    # Gemini's generateContent, under its own (camelCase) names.
    cachedContent: str
    generationConfig: Mapping[str, Any]
    safetySettings: Sequence[Mapping[str, Any]]
    systemInstruction: Mapping[str, Any]
    thinkingConfig: Mapping[str, Any]
    toolConfig: Mapping[str, Any]
