"""The pieces of JSON's grammar that ``PartialJSON`` reads with: patterns,
escapes, literals, and the standard library's C scanners for whole values."""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import re
from collections.abc import Callable
from typing import Any

__all__ = ["BLANKS", "CLOSING", "COMPLETE_SCALAR", "LITERALS", "NEXT_KEY", "NUMBER",
           "NUMBER_PREFIX", "NUM_RUN", "PLAIN", "WS", "decode_escape", "first_difference",
           "scan_string", "scan_value", "valid_prefix"]

WS = re.compile(r"[ \t\n\r]*")
#: the characters a number token is made of (validated separately)
NUM_RUN = re.compile(r"[-+.eE0-9]+")
NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
NUMBER_PREFIX = re.compile(
    r"-?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*|\.[0-9]+[eE][-+]?[0-9]*|[eE][-+]?[0-9]*)?)?")
#: a comma, then a key without escapes, its colon (each with blanks around)
NEXT_KEY = re.compile(r'[ \t\n\r]*,[ \t\n\r]*"([^"\\\x00-\x1f]*)"[ \t\n\r]*:[ \t\n\r]*')
#: a number followed by what ends it, or a whole literal
COMPLETE_SCALAR = re.compile(
    r"(-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?)[ \t\n\r,\]}]|true|false|null")
#: a run of string characters that need no decoding
PLAIN = re.compile(r'[^"\\\x00-\x1f]+')
HEX = frozenset("0123456789abcdefABCDEF")
SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n",
                   "r": "\r", "t": "\t"}
BLANKS = frozenset(" \t\n\r")
CLOSING = {"{": "}", "[": "]", '"': '"'}
LITERALS: dict[str, tuple[str, Any]] = {
    "t": ("true", True), "f": ("false", False), "n": ("null", None)}


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_make_scanner: Any = json.scanner.make_scanner  # typeshed types it as a class of its own
scan_value: Callable[[str, int], tuple[Any, int]] = _make_scanner(
    json.JSONDecoder(parse_constant=_refuse_constant))
scan_string: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]

def decode_escape(s: str) -> tuple[str | None, int, int | None]:
    """An escape at the start of ``s``: (text, length, None) when complete,
    (None, 0, None) when ``s`` ends too soon, (None, 0, index) when invalid.

    A high surrogate waits for what follows: a low surrogate escape joins it
    (as ``json.loads`` does), anything else leaves it alone."""
    if len(s) < 2:
        return None, 0, None
    simple = SIMPLE_ESCAPES.get(s[1])
    if simple is not None:
        return simple, 2, None
    if s[1] != "u":
        return None, 0, 1
    code, bad = _hex4(s, 2)
    if bad is not None or code is None:
        return None, 0, bad
    if not 0xD800 <= code <= 0xDBFF:
        return chr(code), 6, None
    if s[6:8] in ("", "\\"):  # the next escape, if one, decides
        return None, 0, None
    if s[6:8] != "\\u":
        return chr(code), 6, None
    low, bad = _hex4(s, 8)
    if bad is not None or low is None:
        return None, 0, bad
    if 0xDC00 <= low <= 0xDFFF:
        return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), 12, None
    return chr(code), 6, None


def _hex4(s: str, at: int) -> tuple[int | None, int | None]:
    """The four hex digits at ``s[at:]``: (value, None), (None, None) when cut,
    (None, index) at the first one that is not hex."""
    digits = s[at:at + 4]
    for k, c in enumerate(digits):
        if c not in HEX:
            return None, at + k
    if len(digits) < 4:
        return None, None
    return int(digits, 16), None


def first_difference(a: str, b: str) -> int:
    """The first index where ``a`` and ``b`` differ (over the shorter), or -1."""
    for k, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return k
    return -1


def valid_prefix(token: str) -> int:
    """The length of the longest start of ``token`` a number can begin with."""
    for k in range(len(token), 0, -1):
        if NUMBER_PREFIX.fullmatch(token, 0, k) is not None:
            return k
    return 0


