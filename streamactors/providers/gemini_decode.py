"""Decoding a Gemini ``streamGenerateContent?alt=sse`` stream into chunks.

Every SSE event is a whole ``GenerateContentResponse``. Text parts are deltas
(``thought: true`` ones are reasoning); function calls arrive whole, so each
becomes one complete ``ToolCallDelta`` numbered across the stream; usage is
cumulative; the last non-empty ``finishReason`` wins (old models send ``STOP``
on every chunk, and one was recorded correcting ``STOP`` to
``MALFORMED_FUNCTION_CALL`` in a later chunk).

An answer that called functions ends with ``finish_reason`` ``tool_calls``
whatever Gemini's string (``STOP``, or one this library does not know), so a
tool loop can rely on it; ``length``, ``content_filter`` and ``error`` stay,
since they say the calls may be incomplete or wrong. The native string stays
in ``native_finish_reason``.

Thought signatures (``thoughtSignature`` on a part) are collected for
``continuation()``: per tool call id, and, for one on a text part of the
first candidate, for the message. Gemini has no end marker: the body's end
ends the stream, so ``done`` stays False.

A field of the wrong JSON type is a ``ProtocolError`` naming it; the checks
are ``type(x) is ...`` tests on values the decoder reads anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._chunk import Chunk, ToolCallDelta, Usage
from ..errors import ProtocolError, ProviderError
from ._base import Continuation, expect_list, expect_object, expect_str, loads_event, wrong_shape
from ._messages import dumps_arguments

__all__ = ["GeminiDecoder", "GeminiLogprobsDecoder", "error_fields", "gemini_usage"]

_NAME = "gemini"

_FINISH = {
    "STOP": "stop", "MAX_TOKENS": "length",
    **dict.fromkeys(("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                     "IMAGE_SAFETY"), "content_filter"),
    **dict.fromkeys(("MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS"),
                    "error"),
}
#: Normalized finishes that become ``tool_calls`` when the answer called functions.
_CALLS_WIN = frozenset({"stop", "other"})

_loads = loads_event


def _count(um: Mapping[str, Any], key: str) -> int | None:
    """A token count of ``usageMetadata`` (None when absent)."""
    value = um.get(key)
    if value is None or type(value) is int:
        return value
    raise wrong_shape(_NAME, f"usageMetadata.{key}", value, "an integer")


def gemini_usage(um: Mapping[str, Any]) -> Usage:
    """A ``Usage`` from ``usageMetadata``: completion counts visible and
    thinking tokens (``candidatesTokenCount + thoughtsTokenCount``).

    Raises:
        ProtocolError: ``um`` is not an object, or a count is not an integer.
    """
    if not isinstance(um, Mapping):
        raise wrong_shape(_NAME, "usageMetadata", um, "an object")
    prompt = _count(um, "promptTokenCount")
    thoughts = _count(um, "thoughtsTokenCount")
    completion = (_count(um, "candidatesTokenCount") or 0) + (thoughts or 0)
    total = _count(um, "totalTokenCount")
    if total is None and prompt is not None:
        total = prompt + completion
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total,
                 reasoning_tokens=thoughts, cached_tokens=_count(um, "cachedContentTokenCount"),
                 raw=dict(um))


def error_fields(err: Any) -> tuple[str | None, str | None, str | int | None]:
    """``(message, status, code)`` of a Google error object; ``code`` is the
    ``ErrorInfo`` reason (``API_KEY_INVALID``...) when given, else the number."""
    if not isinstance(err, Mapping):
        return (err if isinstance(err, str) else None), None, None
    message = err.get("message")
    status = err.get("status")
    code: str | int | None = err.get("code") if isinstance(err.get("code"), (int, str)) else None
    details = err.get("details")
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, Mapping) and isinstance(detail.get("reason"), str):
            code = detail["reason"]
            break
    return (message if isinstance(message, str) else None,
            status if isinstance(status, str) else None, code)


def _signed(signature: str) -> dict[str, Any]:
    """Where a thought signature goes on a message or tool call entry (the
    convention of Gemini's own OpenAI-compatible API)."""
    return {"extra_content": {"google": {"thought_signature": signature}}}


def _token(entry: Any, where: str) -> dict[str, Any]:
    """One Gemini log-probability candidate as an OpenAI ``logprobs`` entry."""
    obj = expect_object(entry, _NAME, where) or {}
    token = expect_str(obj.get("token"), _NAME, f"{where}.token") or ""
    logprob = obj.get("logProbability")
    if type(logprob) is not float and type(logprob) is not int:
        raise wrong_shape(_NAME, f"{where}.logProbability", logprob, "a number")
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}


def logprobs_of(cand: Mapping[str, Any]) -> dict[str, Any] | None:
    """A candidate's ``logprobsResult`` as OpenAI's ``{"content": [...]}``, or
    None when it carries none."""
    result = expect_object(cand.get("logprobsResult"), _NAME, "logprobsResult")
    if not result:
        return None
    chosen = expect_list(result.get("chosenCandidates"), _NAME,
                         "logprobsResult.chosenCandidates") or []
    tops = expect_list(result.get("topCandidates"), _NAME, "logprobsResult.topCandidates") or []
    content = []
    for i, entry in enumerate(chosen):
        out = _token(entry, "logprobsResult.chosenCandidates[]")
        # topCandidates[i] holds the alternatives at the position of chosenCandidates[i].
        top = expect_object(tops[i] if i < len(tops) else None, _NAME,
                            "logprobsResult.topCandidates[]") or {}
        alternatives = expect_list(top.get("candidates"), _NAME,
                                   "logprobsResult.topCandidates[].candidates") or []
        out["top_logprobs"] = [_token(t, "logprobsResult.topCandidates[].candidates[]")
                               for t in alternatives]
        content.append(out)
    return {"content": content} if content else None


def _unwrap(obj: Any, data: str) -> dict[str, Any]:
    """The object of a one-element array (the framing of a request made without
    ``alt=sse``); ``ProtocolError`` for anything else that is not an object."""
    if type(obj) is list and len(obj) == 1 and type(obj[0]) is dict:
        return obj[0]
    raise ProtocolError(f"{_NAME} sent an event that is not a JSON object", payload=data)


def _check_header(rid: Any, model: Any) -> None:
    """``ProtocolError`` for a top-level field of the wrong type (absent is fine)."""
    if type(rid) is not str and rid is not None:
        raise wrong_shape(_NAME, "responseId", rid, "a string")
    if type(model) is not str and model is not None:
        raise wrong_shape(_NAME, "modelVersion", model, "a string")


def _no_content(content: Any) -> list[Any] | None:
    """A candidate without content has no parts; anything but null is wrong."""
    if content is not None:
        raise wrong_shape(_NAME, "candidates[].content", content, "an object")
    return None


def _no_parts(parts: Any, index: Any) -> tuple[()]:
    """The rare candidate whose parts are absent, or which has a wrong shape."""
    if type(index) is not int:
        raise wrong_shape(_NAME, "candidates[].index", index, "an integer")
    if parts is not None and type(parts) is not list:
        raise wrong_shape(_NAME, "content.parts", parts, "a list")
    return ()


class GeminiDecoder:
    """Decodes the ``GenerateContentResponse`` events of one stream.

    Usage rides on the first chunk, on every chunk carrying a finish reason and
    on every chunk after one (so a corrected finish keeps the final counts);
    in between it is not rebuilt, to keep per-event work small.

    A request that asks for log-probabilities gets ``GeminiLogprobsDecoder``,
    so this one never looks for them.
    """

    __slots__ = ("_calls", "_finished", "_signatures", "_started", "_text_signature", "done")

    def __init__(self) -> None:
        #: candidate index -> function calls seen so far
        self._calls: dict[int, int] = {}
        self._started = False
        self._finished = False
        #: tool call id -> the thought signature on its functionCall part
        self._signatures: dict[str, str] = {}
        #: the last signature on a non-call part of candidate 0
        self._text_signature: str | None = None
        #: Gemini has no end marker: the end of the body ends the stream.
        self.done = False

    def feed(self, data: str, event: str = "message") -> list[Chunk]:
        try:
            obj = _loads(data)
        except ValueError:
            raise ProtocolError(f"{_NAME} sent an event that is not valid JSON",
                                payload=data) from None
        if type(obj) is not dict:
            obj = _unwrap(obj, data)
        if "error" in obj:
            raise self._error(obj["error"], data)
        um = obj.get("usageMetadata")
        rid = obj.get("responseId")
        model = obj.get("modelVersion")
        if type(rid) is not str or type(model) is not str:
            _check_header(rid, model)  # rare: absent, null or of the wrong type
        candidates = obj.get("candidates")
        if type(candidates) is not list or not candidates:
            return self._without_candidates(obj, candidates, um, rid, model)
        out: list[Chunk] = []
        for cand in candidates:
            chunk = self._candidate(cand, obj, rid, model)
            if chunk is not None:
                out.append(chunk)
        if out and um is not None and (not self._started or self._finished):
            out[-1] = out[-1]._replace(usage=gemini_usage(um))
        if out:
            self._started = True
        return out

    def continuation(self) -> Continuation:
        """The thought signatures seen, where ``StreamResult.to_message()``
        puts them and the Gemini request translator reads them back."""
        out: Continuation = {}
        if self._signatures:
            out["tool_calls"] = {cid: _signed(sig) for cid, sig in self._signatures.items()}
        if self._text_signature is not None:
            out["message"] = _signed(self._text_signature)
        return out

    def _without_candidates(self, obj: dict[str, Any], candidates: Any, um: Any, rid: Any,
                            model: Any) -> list[Chunk]:
        """An event with no candidates: a blocked prompt, or usage alone."""
        if candidates is not None and type(candidates) is not list:
            raise wrong_shape(_NAME, "candidates", candidates, "a list")
        feedback = expect_object(obj.get("promptFeedback"), _NAME, "promptFeedback")
        block = expect_str(feedback.get("blockReason"), _NAME,
                           "promptFeedback.blockReason") if feedback else None
        if block:
            self._started = self._finished = True
            usage = gemini_usage(um) if um is not None else None
            return [Chunk(None, None, (), "content_filter", block, usage, 0, obj, None,
                          rid, model)]
        if um is not None and (self._finished or not self._started):
            self._started = True
            return [Chunk(usage=gemini_usage(um), raw=obj, id=rid, model=model)]
        return []

    def _candidate(self, cand: Any, obj: dict[str, Any], rid: Any, model: Any) -> Chunk | None:
        """The chunk of one candidate, or None when it carries nothing."""
        if type(cand) is not dict:
            raise wrong_shape(_NAME, "candidates[]", cand, "an object")
        index = cand.get("index", 0)
        content = cand.get("content")
        parts = content.get("parts") if type(content) is dict else _no_content(content)
        if type(parts) is not list or type(index) is not int:
            parts = _no_parts(parts, index)
        texts: list[str] = []
        thoughts: list[str] = []
        found: list[ToolCallDelta] = []
        signed = False
        for part in parts:  # inline: the hot path of every text event
            if type(part) is not dict:
                raise wrong_shape(_NAME, "content.parts[]", part, "an object")
            t = part.get("text")
            if type(t) is str:
                (thoughts if part.get("thought") is True else texts).append(t)
            elif t is not None:
                raise wrong_shape(_NAME, "content.parts[].text", t, "a string")
            if "functionCall" in part or "thoughtSignature" in part:
                signed = self._call_or_signature(index, part, found) or signed
        native = cand.get("finishReason")
        finish = None
        if native is not None:
            native, finish = self._finish(index, native)
        text = "".join(texts) or None
        reasoning = "".join(thoughts) or None
        empty = text is None and reasoning is None and not found and native is None
        return None if empty and not signed else Chunk(
            text, reasoning, tuple(found), finish, native, None, index, obj, None, rid, model)

    def _call_or_signature(self, index: int, part: dict[str, Any],
                           found: list[ToolCallDelta]) -> bool:
        """Read a part's function call (into ``found``) and thought signature;
        True when the part carried a signature."""
        fc = part.get("functionCall")
        call = None
        if fc is not None:
            call = self._call(index, fc)
            found.append(call)
        signature = part.get("thoughtSignature")
        if signature is None:
            return False
        if type(signature) is not str:
            raise wrong_shape(_NAME, "thoughtSignature", signature, "a string")
        if call is not None:
            self._signatures[call.id or ""] = signature
        elif index == 0:
            self._text_signature = signature
        return True

    def _finish(self, index: int, native: Any) -> tuple[str | None, str | None]:
        """``(native, normalized)`` finish reason; an empty string is none."""
        if type(native) is not str:
            raise wrong_shape(_NAME, "candidates[].finishReason", native, "a string")
        if not native:
            return None, None
        self._finished = True
        finish = _FINISH.get(native, "other")
        if finish in _CALLS_WIN and index in self._calls:
            finish = "tool_calls"
        return native, finish

    def _call(self, index: int, fc: Any) -> ToolCallDelta:
        if type(fc) is not dict:
            raise wrong_shape(_NAME, "functionCall", fc, "an object")
        name = expect_str(fc.get("name"), _NAME, "functionCall.name")
        args = expect_object(fc.get("args"), _NAME, "functionCall.args")
        k = self._calls.get(index, 0)
        self._calls[index] = k + 1
        cid = fc.get("id")
        if cid is None or cid == "":
            cid = f"call_{k}" if not index else f"call_{index}_{k}"
        elif type(cid) is not str:
            raise wrong_shape(_NAME, "functionCall.id", cid, "a string")
        return ToolCallDelta(k, cid, name, dumps_arguments(args))

    @staticmethod
    def _error(err: Any, data: str) -> ProviderError:
        message, status, code = error_fields(err)
        return ProviderError(
            f"{_NAME} reported an error mid-stream: {status or 'error'}: {message}",
            provider_message=message, type=status, code=code, body=data, provider=_NAME,
        )


class GeminiLogprobsDecoder(GeminiDecoder):
    """A ``GeminiDecoder`` that also reads each candidate's ``logprobsResult``
    into ``chunk.logprobs``, in OpenAI's ``{"content": [...]}`` form."""

    __slots__ = ()

    def _candidate(self, cand: Any, obj: dict[str, Any], rid: Any, model: Any) -> Chunk | None:
        chunk = super()._candidate(cand, obj, rid, model)
        logprobs = logprobs_of(cand)  # cand is an object: the line above checked
        if logprobs is None:
            return chunk
        if chunk is None:
            return Chunk(index=cand.get("index", 0), raw=obj, id=rid, model=model,
                         logprobs=logprobs)
        return chunk._replace(logprobs=logprobs)
