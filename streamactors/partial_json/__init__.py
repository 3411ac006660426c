"""Incremental JSON, sans I/O: a JSON text in pieces in, its partial value out,
in time linear in the text.

Peers re-parse the whole text received so far on every delta, so a long
answer costs them the square of its length. ``PartialJSON`` reads each piece
once. It keeps the stack of open containers and the one open token, and
grows the value in place: containers appear as soon as they open; a string
grows with each piece (it never shows half an escape); a number, ``true``,
``false`` or ``null`` appears only once complete; an object key only once its
string closed. So each partial value is a prefix-extension of the next, and
the last one equals ``json.loads`` of the whole text.

The grammar is RFC 8259, as ``json.loads`` reads it without its extensions
(``NaN`` and ``Infinity`` are refused); duplicate keys keep the last value.
Invalid text raises ``OutputValidationError`` from the ``feed`` that brought
the first character making it invalid, with that character's offset; the
error is sticky.

Complete values inside one piece (a whole object, a whole string) go
through the standard library's C scanner; only what is cut by the end of a
piece is walked here, token by token.
"""

from __future__ import annotations

from ._parser import PartialJSON

__all__ = ["PartialJSON"]
