"""Fold chunks into a ``StreamResult``: pure, no I/O, no clocks.

Rules (the same for every provider, since codecs normalize first):

* text, reasoning and refusal concatenate per choice ``index``;
* tool-call fragments merge by their ``index`` field, never by position in a
  list: the first ``id``/``name``/``type`` seen for an index is kept (servers that
  resend them in every fragment do not duplicate them), ``arguments`` text
  concatenates; a fragment that reuses an index with a *different* ``id``
  starts a new call (some servers number every call 0), it is not glued onto
  the previous one; a call that streamed no arguments at all has ``"{}"``, so
  ``json.loads(call.arguments)`` always works for a complete call;
* the last usage wins (providers send cumulative counts), never a sum;
* the last non-null finish reason of a choice wins (Gemini may correct it);
* the stream is ``complete`` once every choice seen has a finish reason.

Fragments are compacted every ``_COMPACT`` pieces: a million one-token chunks
would otherwise keep a million small strings alive (about 60 MB for 6 MB of
text), so a long stream into a slow consumer would not stay flat in memory.
"""

from __future__ import annotations

from typing import Any

from ._chunk import Chunk, ToolCallDelta, Usage
from ._gaps import GapSummary
from ._result import Choice, StreamResult, ToolCall

__all__ = ["Accumulator"]

_COMPACT = 256


def _compact(parts: list[str]) -> None:
    """Join many fragments into one, in place."""
    joined = "".join(parts)
    parts.clear()
    parts.append(joined)


class _ChoiceState:
    __slots__ = ("done_tools", "finish", "logprobs", "native", "reasoning", "refusal", "text",
                 "tools")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        # index -> the call that index currently adds to: [id, name, type,
        # [argument fragments], order of arrival]; calls an index no longer
        # adds to (an id changed) wait in ``done_tools``.
        self.tools: dict[int, list[Any]] = {}
        self.done_tools: list[tuple[int, list[Any]]] = []
        self.finish: str | None = None
        self.native: str | None = None
        self.logprobs: list[Any] | None = None

    def add_tools(self, deltas: tuple[ToolCallDelta, ...]) -> None:
        """Merge tool-call fragments by their ``index`` (see the module rules)."""
        tools = self.tools
        for d in deltas:
            t = tools.get(d.index)
            if t is not None and d.id and t[0] is not None and d.id != t[0]:
                self.done_tools.append((d.index, t))  # the index was reused by a new call
                t = None
            if t is None:
                tools[d.index] = [d.id, d.name, d.type, [d.arguments] if d.arguments else [],
                                  len(tools) + len(self.done_tools)]
                continue
            if t[0] is None and d.id:
                t[0] = d.id
            if t[1] is None and d.name:
                t[1] = d.name
            if d.arguments:
                args = t[3]
                args.append(d.arguments)
                if len(args) >= _COMPACT:
                    _compact(args)

    def add_logprobs(self, logprobs: Any) -> None:
        """Keep a chunk's log-probabilities (OpenAI's ``{"content": [...]}``
        is unwrapped; other shapes are kept as sent)."""
        if self.logprobs is None:
            self.logprobs = []
        if isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):
            self.logprobs.extend(logprobs["content"])
        elif isinstance(logprobs, dict) and "content" in logprobs:
            pass  # {"content": null, "refusal": ...}: nothing to keep
        else:
            self.logprobs.append(logprobs)

    def to_choice(self, index: int) -> Choice:
        calls = sorted([*self.done_tools, *self.tools.items()], key=lambda c: (c[0], c[1][4]))
        tools = tuple(
            ToolCall(index=i, id=t[0], name=t[1], type=t[2] or "function",
                     arguments="".join(t[3]) or "{}")
            for i, t in calls
        )
        return Choice(
            index=index,
            text="".join(self.text),
            reasoning="".join(self.reasoning),
            refusal="".join(self.refusal) if self.refusal else None,
            tool_calls=tools,
            finish_reason=self.finish,
            native_finish_reason=self.native,
            logprobs=tuple(self.logprobs) if self.logprobs is not None else None,
        )


class Accumulator:
    """Adds chunks up, one at a time, into what a non-streaming call returns.

    Args:
        provider: the provider prefix, recorded on the result.
        model: the requested model, used until a chunk names the serving one.
    """

    __slots__ = ("_choices", "chunks", "created", "id", "model", "provider", "usage")

    def __init__(self, provider: str | None = None, model: str | None = None) -> None:
        self._choices: dict[int, _ChoiceState] = {}
        self.provider = provider
        self.model = model
        self.id: str | None = None
        self.created: int | None = None
        self.usage: Usage | None = None
        #: chunks added so far.
        self.chunks = 0

    def add(self, chunk: Chunk) -> None:
        """Fold one chunk in."""
        # The common chunk carries text or reasoning and nothing rare: it pays
        # one test per field and no call. Few chunks carry the rare fields.
        self.chunks += 1
        st = self._choices.get(chunk.index)
        if st is None:
            st = self._choices[chunk.index] = _ChoiceState()
        if chunk.text:
            text = st.text
            text.append(chunk.text)
            if len(text) >= _COMPACT:
                _compact(text)
        if chunk.reasoning:
            reasoning = st.reasoning
            reasoning.append(chunk.reasoning)
            if len(reasoning) >= _COMPACT:
                _compact(reasoning)
        if chunk.tool_calls:
            st.add_tools(chunk.tool_calls)
        if (chunk.finish_reason is not None or chunk.usage is not None or chunk.refusal
                or chunk.logprobs):
            self._add_rare(st, chunk)
        if chunk.model:
            self.model = chunk.model
        if self.id is None and chunk.id:
            self._first_id(chunk)

    def _add_rare(self, st: _ChoiceState, chunk: Chunk) -> None:
        """The fields few chunks carry: finish reason, usage, refusal, log-probabilities."""
        if chunk.finish_reason is not None:
            st.finish = chunk.finish_reason
            st.native = chunk.native_finish_reason
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.refusal:
            st.refusal.append(chunk.refusal)
        if chunk.logprobs:
            st.add_logprobs(chunk.logprobs)

    def _first_id(self, chunk: Chunk) -> None:
        """Take the response id (and its creation time) from the first chunk naming it."""
        self.id = chunk.id
        raw = chunk.raw
        if isinstance(raw, dict) and isinstance(raw.get("created"), int):
            self.created = raw["created"]

    @property
    def complete(self) -> bool:
        """True once every choice seen so far has a finish reason."""
        return bool(self._choices) and all(
            st.finish is not None for st in self._choices.values()
        )

    @property
    def finished_any(self) -> bool:
        """True once any choice has a finish reason."""
        return any(st.finish is not None for st in self._choices.values())

    def text(self, index: int = 0) -> str:
        """The text of one choice so far."""
        st = self._choices.get(index)
        return "".join(st.text) if st else ""

    def result(
        self,
        *,
        time_to_first_token: float | None = None,
        duration: float | None = None,
        retries: int = 0,
        route: str | None = None,
        usage: Usage | None = None,
        continuation: dict[str, Any] | None = None,
        gaps: GapSummary | None = None,
    ) -> StreamResult:
        """The ``StreamResult`` of everything added so far."""
        choices = tuple(st.to_choice(i) for i, st in sorted(self._choices.items()))
        return StreamResult(
            id=self.id,
            model=self.model,
            provider=self.provider,
            created=self.created,
            choices=choices or (Choice(),),
            usage=usage if usage is not None else self.usage,
            time_to_first_token=time_to_first_token,
            duration=duration,
            chunks=self.chunks,
            retries=retries,
            route=route,
            continuation=continuation or {},
            gaps=gaps,
        )
