"""What the loopback server should say: scripts, tool calls and faults.

A ``Script`` describes one answer independently of any wire format (text,
reasoning, tool calls, finish reason, usage, pacing, one optional ``Fault``);
the writers in ``_formats_openai`` and ``_formats_others`` turn it into the
bytes each provider would send. Everything here is a frozen value, so one
script can be shared by many concurrent requests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

__all__ = ["DEFAULT_TEXT", "Fault", "FaultKind", "Script", "ToolCallSpec", "split_tokens"]

DEFAULT_TEXT = (
    "Hello! This reply comes from the streamactors loopback demo server, one token at a time."
)

FaultKind = Literal[
    "stall",
    "drop",
    "drop_mid_line",
    "slow_drip",
    "malformed_json",
    "oversized_event",
    "http_error",
    "error_event",
    "empty_body",
    "html_200",
    "gzip",
]

_FAULT_KINDS: frozenset[str] = frozenset(get_args(FaultKind))
# A token is a run of whitespace followed by a run of non-whitespace, or
# trailing whitespace: the split keeps every character, so "".join() == text.
_TOKEN = re.compile(r"\s*\S+|\s+")


def split_tokens(text: str) -> list[str]:
    """Split ``text`` into word-ish tokens that keep their leading spaces."""
    return _TOKEN.findall(text)


@dataclass(frozen=True)
class ToolCallSpec:
    """One tool call the scripted model makes.

    Attributes:
        name: the function name.
        arguments: the arguments as JSON text (streamed in pieces where the
            format streams them, sent as an object where it does not).
        id: the call id; when None each format generates a deterministic one
            from the call's position (``call_0001``, ``toolu_0001``...).
    """

    name: str
    arguments: str = "{}"
    id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.arguments, str):
            raise TypeError("ToolCallSpec.arguments is the arguments' JSON text: give "
                            f"json.dumps(...) of it, got {type(self.arguments).__name__}")


@dataclass(frozen=True)
class Fault:
    """Something that goes wrong while (or instead of) streaming the script.

    Attributes:
        kind: which failure; see the module docs of ``streamactors.testing``.
        after: content chunks (text, reasoning or tool-call pieces) sent before
            a mid-stream fault takes effect.
        status: HTTP status for ``http_error``.
        retry_after: for ``http_error``, adds a ``Retry-After`` header (seconds).
        message: provider message for ``http_error`` and ``error_event``.
        seconds: how long ``stall`` keeps the connection silent (``stop()`` and
            a client that closes end it early); the stream then goes on.
        size: bytes of the single unterminated line of ``oversized_event``.
        delay: seconds between the single-byte writes of ``slow_drip``.
        times: ``http_error`` applies only to the first ``times`` requests
            served with this script, later ones stream normally (for retry
            tests); None means every request fails.
    """

    kind: FaultKind
    after: int = 0
    status: int = 500
    retry_after: float | None = None
    message: str = "scripted failure"
    seconds: float = 30.0
    size: int = 16 * 1024 * 1024
    delay: float = 0.0
    times: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in _FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.after < 0:
            raise ValueError("Fault.after must be >= 0")


@dataclass(frozen=True)
class Script:
    """One scripted answer, independent of the wire format.

    ``tokens`` is the exact split of ``text`` into content chunks; when left
    None the text is split into word-ish tokens that keep their spaces. If
    ``tokens`` is given while ``text`` is left at its default, the text becomes
    the joined tokens; otherwise the two must agree.

    ``usage`` is ``(prompt_tokens, completion_tokens)``; a completion count of
    -1 means "the number of text tokens" (times ``n`` for OpenAI chat), None
    means the stream carries no usage at all. ``finish_reason`` is normalized
    (``stop``, ``length``, ``tool_calls``, ``content_filter``) and mapped to each
    provider's own value; any other string is sent as is.
    """

    text: str = DEFAULT_TEXT
    tokens: Sequence[str] | None = None
    reasoning: str = ""
    tool_calls: Sequence[ToolCallSpec] = ()
    finish_reason: str | None = None
    usage: tuple[int, int] | None = (12, -1)
    model: str = "demo-model"
    tokens_per_second: float | None = None
    n: int = 1
    fault: Fault | None = None
    _tokens: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.tokens is None:
            tokens = tuple(split_tokens(self.text))
        else:
            tokens = tuple(self.tokens)
            joined = "".join(tokens)
            if joined != self.text:
                if self.text != DEFAULT_TEXT:
                    raise ValueError("Script.tokens must join to Script.text")
                object.__setattr__(self, "text", joined)
        object.__setattr__(self, "_tokens", tokens)
        object.__setattr__(self, "tool_calls", tuple(self.tool_calls))
        if self.n < 1:
            raise ValueError("Script.n must be >= 1")
        if self.tokens_per_second is not None and self.tokens_per_second <= 0:
            raise ValueError("Script.tokens_per_second must be positive")

    @classmethod
    def from_text(cls, text: str, tokens_per_second: float | None = None) -> Script:
        """A plain text answer, optionally paced."""
        return cls(text=text, tokens_per_second=tokens_per_second)

    @classmethod
    def tool(
        cls, name: str, arguments: str | Mapping[str, Any] = "{}", *, id: str | None = None
    ) -> Script:
        """An answer that is a single tool call and no text."""
        args = arguments if isinstance(arguments, str) else json.dumps(dict(arguments))
        return cls(text="", tool_calls=(ToolCallSpec(name, args, id),))

    @property
    def text_tokens(self) -> tuple[str, ...]:
        """The text as the content chunks that carry it."""
        return self._tokens

    @property
    def reasoning_tokens(self) -> tuple[str, ...]:
        """The reasoning as the chunks that carry it."""
        return tuple(split_tokens(self.reasoning))

    @property
    def finish(self) -> str:
        """The normalized finish reason this answer ends with."""
        if self.finish_reason is not None:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"

    def usage_counts(self, choices: int = 1) -> tuple[int, int] | None:
        """``(prompt, completion)`` with -1 resolved, or None for no usage."""
        if self.usage is None:
            return None
        prompt, completion = self.usage
        if completion < 0:
            completion = len(self._tokens) * choices
        return prompt, completion
