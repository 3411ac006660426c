"""Sending one scripted answer's body: HTTP chunks, pacing and the faults
that strike in the middle of a stream.

Every wait goes through the connection's ``pause`` (which watches the client
socket and raises ``Abort`` when the client leaves or the server stops), so
a stalled or paced stream ends at once instead of after its wait.
"""

from __future__ import annotations

import io
import time
import zlib
from collections.abc import Callable

from ._formats import Context, Piece, WireFormat, fault_index
from ._script import Fault, Script

__all__ = ["MID_STREAM", "Abort", "ChunkWriter", "send_pieces"]

#: The faults that strike after some content, while the body is being sent.
MID_STREAM = frozenset(
    {"stall", "drop", "drop_mid_line", "malformed_json", "oversized_event", "error_event"}
)
_PIECE = 64 * 1024

Pause = Callable[[float], None]


class Abort(Exception):
    """The stream cannot go on: the client left or the server is stopping."""


def send_pieces(
    fmt: WireFormat, script: Script, ctx: Context, out: ChunkWriter, fault: Fault | None,
    pause: Pause,
) -> bool:
    """Write the pieces with pacing and the mid-stream fault; False = close now."""
    pieces = fmt.render(script, ctx)
    fire = -1
    if fault is not None and fault.kind in MID_STREAM:
        fire = fault_index(pieces, fault.after)
    interval = 1.0 / script.tokens_per_second if script.tokens_per_second else 0.0
    due: float | None = None
    for i, piece in enumerate(pieces):
        if i == fire and fault is not None:
            outcome = _strike(fault, fmt, ctx, i, piece, out, pause)
            if outcome is not None:
                return outcome
        if piece.content and interval:
            due = _pace(due, interval, pause)
        out.write(piece.data)
    return True


def _pace(due: float | None, interval: float, pause: Pause) -> float:
    """Wait until the piece is due; return when the next one is."""
    now = time.monotonic()
    if due is not None and due > now:
        pause(due - now)
        now = due
    return now + interval


def _strike(
    fault: Fault, fmt: WireFormat, ctx: Context, i: int, piece: Piece, out: ChunkWriter,
    pause: Pause,
) -> bool | None:
    """Play the mid-stream fault before piece ``i``: None goes on with the
    piece; True ends the body normally, False closes the connection now."""
    kind = fault.kind
    if kind == "stall":
        pause(fault.seconds)
        return None
    if kind == "malformed_json":
        out.write(fmt.malformed)
        return None
    if kind == "error_event":
        out.write(fmt.error_event(fault, ctx, i))
        return True
    if kind == "drop_mid_line":
        out.write(piece.data[: len(piece.data) // 2])
    elif kind == "oversized_event":
        out.write(fmt.oversized_prefix)
        block = b"x" * _PIECE
        for start in range(0, fault.size, _PIECE):
            out.write(block[: min(_PIECE, fault.size - start)])
    return False  # drop, drop_mid_line, oversized_event: the connection goes


class ChunkWriter:
    """Writes pieces as HTTP chunks, optionally gzip-compressed or dripped."""

    def __init__(
        self,
        wfile: io.BufferedIOBase,
        pause: Callable[[float], None],
        compress: bool,
        drip_delay: float | None,
    ) -> None:
        self._wfile = wfile
        self._pause = pause
        self._compressor = zlib.compressobj(wbits=31) if compress else None
        self._drip_delay = drip_delay

    def write(self, data: bytes) -> None:
        if self._compressor is not None:
            data = self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        if not data:
            return  # an empty chunk would end the body
        if self._drip_delay is None:
            self._wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            return
        for i in range(len(data)):
            if self._drip_delay > 0:
                self._pause(self._drip_delay)
            self._wfile.write(b"1\r\n%s\r\n" % data[i : i + 1])

    def end(self) -> None:
        if self._compressor is not None:
            tail = self._compressor.flush()
            self._compressor = None
            self.write(tail)
        self._wfile.write(b"0\r\n\r\n")
