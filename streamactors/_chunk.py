"""Normalized pieces of a stream: the ``Chunk`` every provider is decoded into.

Chunks sit on the hot path (one per server event), so they are named tuples:
immutable, typed, and built in a fraction of a microsecond. The provider's
original decoded payload stays on each chunk as ``raw``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict

__all__ = ["FINISH_REASONS", "Chunk", "ToolCallDelta", "Usage", "has_output"]

#: The normalized finish-reason vocabulary shared by every provider.
FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter", "error", "other")


class ToolCallDelta(NamedTuple):
    """One fragment of a streamed tool call.

    Fragments merge by ``index`` (never by list position): the first fragment
    for an index usually carries ``id`` and ``name``, later ones only more
    ``arguments`` text, which concatenates into a JSON string.
    """

    index: int  # type: ignore[assignment]  # shadows tuple.index on purpose
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    type: str = "function"


class Usage(BaseModel):
    """Token counts, in OpenAI's names whatever the provider called them.

    ``estimated`` is True when the provider sent no usage and the counts were
    estimated from the text.
    """

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None
    estimated: bool = False
    #: The provider's usage object as it was sent.
    raw: dict[str, Any] | None = None

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI ``usage`` object shape."""
        out: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens or 0,
            "completion_tokens": self.completion_tokens or 0,
            "total_tokens": (
                self.total_tokens
                if self.total_tokens is not None
                else (self.prompt_tokens or 0) + (self.completion_tokens or 0)
            ),
        }
        if self.cached_tokens is not None:
            out["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        if self.reasoning_tokens is not None:
            out["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        return out


class Chunk(NamedTuple):
    """One normalized piece of a streamed answer.

    Attributes:
        text: new answer text, or None.
        reasoning: new reasoning/thinking text, or None.
        tool_calls: tool-call fragments carried by this chunk.
        finish_reason: normalized reason (see ``FINISH_REASONS``) on the chunk
            that ends a choice, else None.
        native_finish_reason: the provider's own value beside it.
        usage: token counts when this chunk carries them (last one wins).
        index: the choice this chunk belongs to (``n > 1``), else 0.
        raw: the decoded provider payload this chunk came from.
        refusal: refusal text (OpenAI structured outputs), kept apart from text.
        id: the response id, when the payload carries one.
        model: the model that answered, when the payload names it.
        logprobs: the provider's log-probabilities for this chunk, as sent.
        role: the speaker when the payload names one.
    """

    text: str | None = None
    reasoning: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] = ()
    finish_reason: str | None = None
    native_finish_reason: str | None = None
    usage: Usage | None = None
    index: int = 0  # type: ignore[assignment]  # shadows tuple.index on purpose
    raw: Any = None
    refusal: str | None = None
    id: str | None = None
    model: str | None = None
    logprobs: Any = None
    role: str | None = None


def has_output(batch: list[Chunk]) -> bool:
    """Whether a batch carries a token of the answer. OpenAI's first chunk
    (the role, empty content) arrives before the model produced anything: it
    must neither stop the ``first_token`` deadline nor define the time to
    first token."""
    for c in batch:
        if c.text or c.reasoning or c.tool_calls or c.refusal or c.finish_reason:
            return True
    return False
