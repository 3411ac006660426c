"""What ``python -m streamactors chat`` prints, and where.

The answer's text goes to stdout as it arrives; everything else (reasoning,
notes, ``--stats``, tool calls, errors) goes to stderr, so stdout can be
piped. Every write goes through ``write``: a text holding a lone surrogate
(which a chunk built by user code, or a provider, may carry) is printed with
replacement characters instead of ending the command with a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any

from ._chunk import Chunk
from ._result import StreamResult

__all__ = ["AnswerPrinter", "error_json", "finish_note", "format_stats", "result_json",
           "say", "write"]

#: SGR "faint" and "reset": reasoning is shown dimmed on a terminal.
_DIM, _RESET = "\x1b[2m", "\x1b[0m"

#: One line on stderr for the finish reasons that mean the answer is not whole.
_NOTES = {
    "length": "note: the answer was cut at the token limit (finish reason: length); "
              "raise it with -p max_tokens=N",
    "content_filter": "note: the provider's content filter stopped the answer "
                      "(finish reason: content_filter)",
}


def write(out: IO[str], text: str) -> None:
    """``out.write(text)``, replacing what the stream cannot encode.

    The plain write is tried first (the common case costs nothing more); a
    ``TextIOWrapper`` encodes the whole text before writing any of it, so a
    failed write left nothing behind to duplicate.
    """
    try:
        out.write(text)
    except UnicodeEncodeError:
        out.write(_printable(text, getattr(out, "encoding", None) or "utf-8"))


def _printable(text: str, encoding: str) -> str:
    """``text`` with lone surrogates as U+FFFD (pairs joined), then whatever
    ``encoding`` still cannot carry replaced by its own replacement."""
    text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text.encode(encoding, "replace").decode(encoding, "replace")


def say(line: str) -> None:
    """One line on stderr, flushed (notices, notes, stats, errors)."""
    write(sys.stderr, line + "\n")
    sys.stderr.flush()


def _dims(stream: IO[str]) -> bool:
    """Whether to dim reasoning: a terminal, and ``NO_COLOR`` unset."""
    isatty = getattr(stream, "isatty", None)
    return bool(callable(isatty) and isatty()) and not os.environ.get("NO_COLOR")


class AnswerPrinter:
    """Streams one answer: its text to stdout (unless ``text`` is False, as
    with ``--json``) and, with ``reasoning``, its reasoning to stderr, dimmed
    on a terminal. ``end()`` finishes the lines it left open."""

    def __init__(self, *, text: bool, reasoning: bool) -> None:
        self._text = text
        self._reasoning = reasoning
        self._dim = reasoning and _dims(sys.stderr)
        self._wrote = ""  # the last text written to stdout
        self._thought = ""  # the last reasoning written to stderr

    def chunk(self, chunk: Chunk) -> None:
        if chunk.reasoning and self._reasoning:
            piece = chunk.reasoning
            # Each piece is dimmed on its own, so an interrupted answer never
            # leaves the terminal faint.
            write(sys.stderr, f"{_DIM}{piece}{_RESET}" if self._dim else piece)
            sys.stderr.flush()
            self._thought = piece
        if chunk.text and self._text:
            self._end_reasoning()
            out = sys.stdout
            write(out, chunk.text)
            out.flush()
            self._wrote = chunk.text

    def _end_reasoning(self) -> None:
        if self._thought:
            if not self._thought.endswith("\n"):
                sys.stderr.write("\n")
                sys.stderr.flush()
            self._thought = ""

    def end(self) -> None:
        """End the open lines: the reasoning's on stderr, the answer's on stdout."""
        self._end_reasoning()
        if self._wrote and not self._wrote.endswith("\n"):
            sys.stdout.write("\n")
            sys.stdout.flush()
        self._wrote = ""


def finish_note(result: StreamResult) -> str | None:
    """The note for an answer that stopped short (``length``,
    ``content_filter``), or None."""
    reason = result.finish_reason
    return _NOTES.get(reason) if reason is not None else None


def format_stats(result: StreamResult) -> str:
    """One line about a result: finish reason, time to first token, speed,
    usage, duration."""
    parts = []
    if result.finish_reason is not None:
        parts.append(f"finish reason {result.finish_reason}")
    if result.time_to_first_token is not None:
        parts.append(f"first token {result.time_to_first_token * 1000:.0f} ms")
    tps = result.output_tokens_per_second
    if tps is not None:
        parts.append(f"{tps:.1f} tokens/s")
    usage = result.usage
    if usage is not None:
        parts.append(f"{usage.prompt_tokens or 0} prompt + {usage.completion_tokens or 0} "
                     f"completion tokens{' (estimated)' if usage.estimated else ''}")
    if result.duration is not None:
        parts.append(f"{result.duration:.2f} s total")
    parts.append(f"{result.chunks} chunks")
    if result.retries:
        parts.append(f"{result.retries} retries")
    if result.route:
        parts.append(f"route {result.route}")
    return "stats: " + ", ".join(parts)


def _plain(result: StreamResult) -> dict[str, Any]:
    # model_dump(mode="json") keeps a lone surrogate where model_dump_json
    # would raise; write() replaces it when printing.
    return result.model_dump(mode="json")


def result_json(result: StreamResult) -> str:
    """The whole result as indented JSON (``--json``)."""
    return json.dumps(_plain(result), indent=2, ensure_ascii=False)


def error_json(error: BaseException, type_name: str | None = None) -> str:
    """The ``--json`` output of a failure: one ``{"error": {...}}`` object with
    the error's class name, message, HTTP status, request id and the partial
    result (None when nothing arrived or the request was never sent)."""
    partial = getattr(error, "partial", None)
    status = getattr(error, "status_code", None)
    request_id = getattr(error, "request_id", None)
    return json.dumps({"error": {
        "type": type_name or type(error).__name__,
        "message": str(error),
        "status_code": status if isinstance(status, int) else None,
        "request_id": request_id if isinstance(request_id, str) else None,
        "partial": _plain(partial) if isinstance(partial, StreamResult) else None,
    }}, indent=2, ensure_ascii=False)
