"""A value for every request field a codec's ``fields`` table may name, used
by ``test_fields.py`` to send each row of the table to a recording server.

Sections are grouped by who owns them; a field's value must be one the codecs
that *pass* or *translate* it accept (refusing codecs never look at it).
"""

from __future__ import annotations

from typing import Any

_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                          "parameters": {"type": "object",
                                                         "properties": {"city": {"type": "string"}},
                                                         "required": ["city"]}}}

#: OpenAI Chat Completions fields (the shape every request is written in).
COMMON: dict[str, Any] = {
    "audio": {"voice": "alloy", "format": "wav"},
    "frequency_penalty": 0.5,
    "function_call": "auto",
    "functions": [_TOOL["function"]],
    "logit_bias": {"50256": -100},
    "logprobs": True,
    "max_completion_tokens": 77,
    "max_tokens": 77,
    "metadata": {"purpose": "test"},
    "modalities": ["text"],
    "n": 1,
    "parallel_tool_calls": False,
    "prediction": {"type": "content", "content": "x"},
    "presence_penalty": 0.25,
    "prompt_cache_key": "cache-1",
    "reasoning_effort": "low",
    "response_format": {"type": "json_object"},
    "safety_identifier": "user-1",
    "seed": 42,
    "service_tier": "auto",
    "stop": ["END"],
    "store": False,
    "stream_options": {"include_usage": True},
    "temperature": 0.5,
    "tool_choice": "auto",
    "tools": [_TOOL],
    "top_logprobs": 2,
    "top_p": 0.9,
    "user": "user-1",
    "verbosity": "low",
    "web_search_options": {},
}

#: Fields some other provider family names, given to any codec.
OTHER: dict[str, Any] = {
    "top_k": 40,
}

#: Native fields of the OpenAI-family codecs (Responses, legacy completions,
#: OpenRouter, Mistral...).
OPENAI_NATIVE: dict[str, Any] = {}

#: Native fields of the Anthropic codec.
ANTHROPIC_NATIVE: dict[str, Any] = {}

#: Native fields of the Gemini codec.
GEMINI_NATIVE: dict[str, Any] = {}

#: Native fields of the Ollama codec.
OLLAMA_NATIVE: dict[str, Any] = {}

SAMPLES: dict[str, Any] = {**COMMON, **OTHER, **OPENAI_NATIVE, **ANTHROPIC_NATIVE,
                           **GEMINI_NATIVE, **OLLAMA_NATIVE}

#: Fields that only mean something beside another one: sent together.
CONTEXT: dict[str, dict[str, Any]] = {
    "tool_choice": {"tools": [_TOOL]},
    "parallel_tool_calls": {"tools": [_TOOL]},
    "top_logprobs": {"logprobs": True},
    "function_call": {"functions": [_TOOL["function"]]},
}
