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
OPENAI_NATIVE: dict[str, Any] = {
    # Chat Completions (newer than COMMON)
    "prompt_cache_retention": "24h",
    # Mistral
    "random_seed": 7,
    "prompt_mode": "reasoning",
    "safe_prompt": False,
    # OpenRouter
    "models": ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5"],
    "route": "fallback",
    "provider": {"order": ["openai"], "allow_fallbacks": True},
    "transforms": ["middle-out"],
    "reasoning": {"effort": "low"},
    "usage": {"include": True},
    "plugins": [{"id": "web"}],
    "session_id": "session-1",
    "min_p": 0.05,
    "top_a": 0.1,
    "repetition_penalty": 1.1,
    # self-hosted OpenAI-compatible servers
    "repeat_penalty": 1.1,
    "min_tokens": 1,
    "chat_template_kwargs": {"enable_thinking": False},
    # legacy text completions
    "best_of": 1,
    "echo": False,
    "suffix": "END",
    # Responses
    "background": False,
    "conversation": "conv_1",
    "include": ["reasoning.encrypted_content"],
    "instructions": "Be brief.",
    "max_output_tokens": 77,
    "max_tool_calls": 3,
    "previous_response_id": "resp_1",
    "prompt": {"id": "pmpt_1", "variables": {"city": "Paris"}},
    "text": {"verbosity": "low"},
    "truncation": "auto",
}

#: Native fields of the Anthropic codec. ``metadata`` replaces the COMMON
#: sample for every codec: the Messages API takes only ``user_id`` there (any
#: other key is refused), and the codecs that pass metadata take this one too.
ANTHROPIC_NATIVE: dict[str, Any] = {
    "metadata": {"user_id": "user-1"},
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "system": "Be brief.",
    "stop_sequences": ["END"],
    "cache_control": {"type": "ephemeral"},
    "container": "container_011CUxyz",
    "inference_geo": "us",
    "output_config": {"effort": "low"},
    "mcp_servers": [{"type": "url", "url": "https://mcp.example.com/sse", "name": "example"}],
    "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
}

#: Native fields of the Gemini codec.
GEMINI_NATIVE: dict[str, Any] = {
    "generationConfig": {"candidateCount": 1, "responseModalities": ["TEXT"]},
    "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
    "cachedContent": "cachedContents/abc123",
    "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
    "systemInstruction": {"parts": [{"text": "Be brief."}]},
    "thinkingConfig": {"includeThoughts": True},
}

#: Native fields of the Ollama codec (chat and ``complete()``). ``min_p``,
#: ``repeat_penalty``, ``suffix`` and ``system`` are named by other sections
#: too, with the same values.
OLLAMA_NATIVE: dict[str, Any] = {
    "think": True,
    "keep_alive": "5m",
    "format": "json",
    "options": {"num_ctx": 4096},
    "truncate": True,
    "shift": False,
    "num_ctx": 4096,
    "num_keep": 4,
    "num_batch": 256,
    "num_gpu": 1,
    "main_gpu": 0,
    "num_thread": 4,
    "repeat_last_n": 64,
    "repeat_penalty": 1.1,
    "min_p": 0.05,
    "typical_p": 0.9,
    "mirostat": 1,
    "mirostat_tau": 5.0,
    "mirostat_eta": 0.1,
    "penalize_newline": True,
    "numa": False,
    "use_mmap": True,
    "use_mlock": False,
    "num_predict": 64,
    # /api/generate only
    "system": "Be brief.",
    "suffix": "END",
    "template": "{{ .Prompt }}",
    "raw": True,
    "context": [1, 2, 3],
    "images": ["iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5E"
               "rkJggg=="],
}

SAMPLES: dict[str, Any] = {**COMMON, **OTHER, **OPENAI_NATIVE, **ANTHROPIC_NATIVE,
                           **GEMINI_NATIVE, **OLLAMA_NATIVE}

#: Fields that only mean something beside another one: sent together.
CONTEXT: dict[str, dict[str, Any]] = {
    "tool_choice": {"tools": [_TOOL]},
    "parallel_tool_calls": {"tools": [_TOOL]},
    "top_logprobs": {"logprobs": True},
    "function_call": {"functions": [_TOOL["function"]]},
}
