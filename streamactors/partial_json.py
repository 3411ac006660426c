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

import json
import json.decoder
import json.scanner
import re
from collections.abc import Callable
from typing import Any

from .errors import OutputValidationError

__all__ = ["PartialJSON"]

_WS = re.compile(r"[ \t\n\r]*")
#: the characters a number token is made of (validated separately)
_NUM_RUN = re.compile(r"[-+.eE0-9]+")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_NUMBER_PREFIX = re.compile(
    r"-?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*|\.[0-9]+[eE][-+]?[0-9]*|[eE][-+]?[0-9]*)?)?")
#: a comma, then a key without escapes, its colon (each with blanks around)
_NEXT_KEY = re.compile(r'[ \t\n\r]*,[ \t\n\r]*"([^"\\\x00-\x1f]*)"[ \t\n\r]*:[ \t\n\r]*')
#: a number followed by what ends it, or a whole literal
_COMPLETE_SCALAR = re.compile(
    r"(-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?)[ \t\n\r,\]}]|true|false|null")
#: a run of string characters that need no decoding
_PLAIN = re.compile(r'[^"\\\x00-\x1f]+')
_HEX = frozenset("0123456789abcdefABCDEF")
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n",
                   "r": "\r", "t": "\t"}
_BLANKS = frozenset(" \t\n\r")
_CLOSING = {"{": "}", "[": "]", '"': '"'}
_LITERALS: dict[str, tuple[str, Any]] = {
    "t": ("true", True), "f": ("false", False), "n": ("null", None)}


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_make_scanner: Any = json.scanner.make_scanner  # typeshed types it as a class of its own
_scan_value: Callable[[str, int], tuple[Any, int]] = _make_scanner(
    json.JSONDecoder(parse_constant=_refuse_constant))
_scan_string: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]

# States: what the next character may be.
(_VALUE, _VALUE_OR_CLOSE, _KEY, _KEY_OR_CLOSE, _COLON, _AFTER_VALUE, _DONE,
 _STRING, _NUMBER_TOKEN, _LITERAL) = range(10)


class PartialJSON:
    """Feed the pieces of one JSON text; read ``value`` at any time.

    ``value`` is the live partial value: its containers grow in place, so
    keep a copy (``copy.deepcopy``) of one you want to hold on to.
    ``has_value`` is False until a value started (a number at the top level
    starts only once complete). ``finish()`` says the text ended.
    """

    __slots__ = (
        "_error",
        "_escape",
        "_is_key",
        "_keys",
        "_literal",
        "_number",
        "_offset",
        "_parts",
        "_root",
        "_stack",
        "_stale",
        "_state",
        "has_value",
    )

    def __init__(self) -> None:
        self._state = _VALUE
        self._offset = 0  # of the piece being read, in the whole text
        self._stack: list[Any] = []  # the open containers, outermost first
        self._keys: list[str | None] = []  # beside each: its pending key
        self._root: Any = None
        self.has_value = False
        self._parts: list[str] = []  # the open string
        self._is_key = False
        self._stale = False  # the open string grew since ``value`` was read
        self._escape = ""  # an escape cut by the end of a piece
        self._number = ""  # a number cut by the end of a piece
        self._literal = ""  # true/false/null cut by the end of a piece
        self._error: OutputValidationError | None = None

    @property
    def value(self) -> Any:
        """The value so far (None before ``has_value``)."""
        if self._stale:
            self._stale = False
            text = "".join(self._parts)
            self._parts = [text]
            self._replace_last(text)
        return self._root

    @property
    def open_containers(self) -> list[Any]:
        """The objects and arrays still open, outermost first (every other
        container in ``value`` is complete and will not change). Read only."""
        return self._stack

    @property
    def done(self) -> bool:
        """True once the top-level value is complete (only blanks may follow)."""
        return self._state == _DONE

    def feed(self, text: str) -> None:
        """Read the next piece of the text."""
        if self._error is not None:
            raise self._error
        steps = _STEPS
        i, end = 0, len(text)
        try:
            while i < end:
                i = steps[self._state](self, text, i)
        except OutputValidationError as exc:
            self._error = exc
            raise
        self._offset += end

    def finish(self) -> Any:
        """The text ended: its value, or ``OutputValidationError`` if it was
        cut before the value ended."""
        if self._error is not None:
            raise self._error
        if self._state == _NUMBER_TOKEN and not self._stack:
            self._state = _DONE
            self._put(self._number_value(self._number, self._offset - len(self._number)))
        if self._state != _DONE:
            what = "no JSON value" if not self.has_value else "the JSON value is incomplete"
            self._error = OutputValidationError(
                f"{what} at the end of the text (offset {self._offset})", offset=self._offset)
            raise self._error
        return self.value

    # -- the value tree -----------------------------------------------------------

    def _put(self, value: Any) -> None:
        """A new value: into the open container, or as the root."""
        stack = self._stack
        if not stack:
            self._root = value
            self.has_value = True
            return
        top = stack[-1]
        if type(top) is dict:
            top[self._keys[-1]] = value
        else:
            top.append(value)

    def _replace_last(self, value: Any) -> None:
        """The open string grew: put its new text where its start was put."""
        stack = self._stack
        if not stack:
            self._root = value
        elif type(stack[-1]) is dict:
            stack[-1][self._keys[-1]] = value
        else:
            stack[-1][-1] = value

    def _open(self, container: dict[str, Any] | list[Any]) -> None:
        self._put(container)
        self._stack.append(container)
        self._keys.append(None)
        self._state = _KEY_OR_CLOSE if type(container) is dict else _VALUE_OR_CLOSE

    def _close(self) -> None:
        self._stack.pop()
        self._keys.pop()
        self._state = _AFTER_VALUE if self._stack else _DONE

    def _ended(self) -> None:
        """A value ended: what may follow it."""
        self._state = _AFTER_VALUE if self._stack else _DONE

    def _fail(self, message: str, offset: int) -> OutputValidationError:
        return OutputValidationError(f"invalid JSON at offset {offset}: {message}", offset=offset)

    # -- states (each reads from ``i`` and returns where it stopped) ---------------

    def _value(self, text: str, i: int) -> int:
        if i == len(text):
            return i
        c = text[i]
        if c in _BLANKS:
            i = _WS.match(text, i).end()  # type: ignore[union-attr]
            if i == len(text):
                return i
            c = text[i]
        if c == "{" or c == "[" or c == '"':
            return self._container_or_string(text, i, c)
        scalar = _COMPLETE_SCALAR.match(text, i)
        if scalar is not None:  # a number a delimiter ends, or a whole literal
            number = scalar.group(1)
            if number is None:
                self._put(_LITERALS[c][1])
            else:
                self._put(float(number) if scalar.group(2) or scalar.group(3) else int(number))
            self._ended()
            return scalar.end(1) if number is not None else scalar.end()
        if c == "-" or "0" <= c <= "9":
            return self._number_start(text, i)
        literal = _LITERALS.get(c)
        if literal is None:
            raise self._fail(f"expected a value, got {c!r}", self._offset + i)
        self._state = _LITERAL
        self._literal = ""
        return self._literal_token(text, i)

    def _container_or_string(self, text: str, i: int, c: str) -> int:
        # The whole value in this piece (its closing character is there, at
        # least): the C scanner reads it. Else, or if invalid, it is read
        # here, which finds where it is cut or invalid.
        if text.find(_CLOSING[c], i + 1) != -1:
            try:
                value, end = _scan_value(text, i)
            except (ValueError, StopIteration, RecursionError):
                pass
            else:
                self._put(value)
                self._ended()
                return end
        if c != '"':
            self._open({} if c == "{" else [])
            return i + 1
        self._put("")
        self._parts = []
        self._is_key = False
        self._state = _STRING
        return self._string(text, i + 1)

    def _value_or_close(self, text: str, i: int) -> int:
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        if i < len(text) and text[i] == "]":
            self._close()
            return i + 1
        self._state = _VALUE
        return i

    def _key_or_close(self, text: str, i: int) -> int:
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        if i < len(text) and text[i] == "}":
            self._close()
            return i + 1
        self._state = _KEY
        return i

    def _key(self, text: str, i: int) -> int:
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        if i == len(text):
            return i
        if text[i] != '"':
            raise self._fail(f"expected a key in double quotes, got {text[i]!r}", self._offset + i)
        if text.find('"', i + 1) != -1:  # complete here, unless invalid
            try:
                key, end = _scan_string(text, i + 1)
            except ValueError:
                pass
            else:
                self._keys[-1] = key
                self._state = _COLON
                return end
        self._parts = []
        self._is_key = True
        self._state = _STRING
        return i + 1

    def _colon(self, text: str, i: int) -> int:
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        if i == len(text):
            return i
        if text[i] != ":":
            raise self._fail(f"expected ':' after a key, got {text[i]!r}", self._offset + i)
        self._state = _VALUE
        return i + 1

    def _after_value(self, text: str, i: int) -> int:
        in_object = type(self._stack[-1]) is dict
        if in_object:  # the common `, "key": ` at once (a plain key, all in this piece)
            sep = _NEXT_KEY.match(text, i)
            if sep is not None:
                self._keys[-1] = sep.group(1)
                self._state = _VALUE
                return self._value(text, sep.end())
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        if i == len(text):
            return i
        c = text[i]
        if c == ",":
            self._state = _KEY if in_object else _VALUE
        elif c == ("}" if in_object else "]"):
            self._close()
        else:
            wanted = "',' or '}'" if in_object else "',' or ']'"
            raise self._fail(f"expected {wanted}, got {c!r}", self._offset + i)
        return i + 1

    def _done(self, text: str, i: int) -> int:
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        if i < len(text):
            raise self._fail(f"text after the JSON value: {text[i]!r}", self._offset + i)
        return i

    # -- tokens cut by the end of a piece -------------------------------------------

    def _string(self, text: str, i: int) -> int:
        end = len(text)
        parts = self._parts
        while i < end:
            if self._escape:
                i = self._escape_sequence(text, i)
                continue
            run = _PLAIN.match(text, i)
            if run is not None:
                parts.append(run.group())
                self._stale = not self._is_key
                i = run.end()
                continue
            c = text[i]
            if c == '"':
                return self._string_end(text, i)
            if c != "\\":
                raise self._fail(f"control character {c!r} in a string", self._offset + i)
            self._escape = "\\"
            i += 1
        return i

    def _string_end(self, text: str, i: int) -> int:
        string = "".join(self._parts)
        self._parts = []
        self._stale = False
        if self._is_key:
            self._keys[-1] = string
            self._state = _COLON
            return i + 1
        self._replace_last(string)
        if not self._stack:
            self._state = _DONE
            return i + 1
        self._state = _AFTER_VALUE
        return self._after_value(text, i + 1)

    def _escape_sequence(self, text: str, i: int) -> int:
        """Continue the escape in ``_escape`` with ``text[i:]``."""
        had = len(self._escape)
        pending = self._escape + text[i:i + 12]
        decoded, used, bad = _decode_escape(pending)
        if bad is not None:
            raise self._fail("invalid escape in a string", self._offset + i + bad - had)
        if decoded is None:  # still cut: all of it is pending
            self._escape = pending
            return i + len(pending) - had
        self._parts.append(decoded)
        self._stale = not self._is_key
        if used < had:  # a high surrogate alone: the escape after it began earlier
            self._escape = self._escape[used:]
            return i
        self._escape = ""
        return i + used - had

    def _number_start(self, text: str, i: int) -> int:
        self._number = ""
        self._state = _NUMBER_TOKEN
        return self._number_token(text, i)

    def _number_token(self, text: str, i: int) -> int:
        run = _NUM_RUN.match(text, i)
        end = i if run is None else run.end()
        start = self._offset + i - len(self._number)
        token = self._number + text[i:end]
        if _NUMBER_PREFIX.fullmatch(token) is None:
            raise self._fail("invalid number", start + _valid_prefix(token))
        if end == len(text):  # the next piece may go on with it
            self._number = token
            return end
        if _NUMBER.fullmatch(token) is None:
            raise self._fail(f"incomplete number {token!r}", self._offset + end)
        self._number = ""
        self._put(self._number_value(token, start))
        self._ended()
        return end

    def _number_value(self, token: str, start: int) -> Any:
        match = _NUMBER.fullmatch(token)
        if match is None:
            raise self._fail(f"incomplete number {token!r}", start + len(token))
        try:
            return float(token) if match.group(1) or match.group(2) else int(token)
        except ValueError as exc:  # more digits than int() takes
            raise self._fail(str(exc), start) from None

    def _literal_token(self, text: str, i: int) -> int:
        word, value = _LITERALS[(self._literal or text[i])[0]]
        need = word[len(self._literal):]
        got = text[i:i + len(need)]
        for k, (a, b) in enumerate(zip(got, need, strict=False)):
            if a != b:
                raise self._fail(f"expected {word!r}", self._offset + i + k)
        self._literal += got
        if self._literal == word:
            self._literal = ""
            self._put(value)
            self._ended()
        return i + len(got)


def _decode_escape(s: str) -> tuple[str | None, int, int | None]:
    """An escape at the start of ``s``: (text, length, None) when complete,
    (None, 0, None) when ``s`` ends too soon, (None, 0, index) when invalid.

    A high surrogate waits for what follows: a low surrogate escape joins it
    (as ``json.loads`` does), anything else leaves it alone."""
    if len(s) < 2:
        return None, 0, None
    simple = _SIMPLE_ESCAPES.get(s[1])
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
        if c not in _HEX:
            return None, at + k
    if len(digits) < 4:
        return None, None
    return int(digits, 16), None


def _valid_prefix(token: str) -> int:
    """The length of the longest start of ``token`` a number can begin with."""
    for k in range(len(token), 0, -1):
        if _NUMBER_PREFIX.fullmatch(token, 0, k) is not None:
            return k
    return 0


_STEPS: list[Callable[[PartialJSON, str, int], int]] = [
    PartialJSON._value, PartialJSON._value_or_close, PartialJSON._key,
    PartialJSON._key_or_close, PartialJSON._colon, PartialJSON._after_value,
    PartialJSON._done, PartialJSON._string, PartialJSON._number_token,
    PartialJSON._literal_token,
]
