"""``PartialJSON``: the state machine (see the package's docs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import OutputValidationError
from ._lexis import (
    BLANKS,
    CLOSING,
    COMPLETE_SCALAR,
    LITERALS,
    NEXT_KEY,
    NUM_RUN,
    NUMBER,
    NUMBER_PREFIX,
    PLAIN,
    WS,
    decode_escape,
    first_difference,
    scan_string,
    scan_value,
    valid_prefix,
)

__all__ = ["PartialJSON"]

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

    __slots__ = ("_error", "_escape", "_is_key", "_keys", "_literal", "_number", "_offset",
                 "_parts", "_root", "_stack", "_stale", "_state", "has_value")

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
            self._put(self._number_value(self._number, self._offset - len(self._number),
                                         self._offset))
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
        if c in BLANKS:
            i = WS.match(text, i).end()  # type: ignore[union-attr]
            if i == len(text):
                return i
            c = text[i]
        if c == "{" or c == "[" or c == '"':
            return self._container_or_string(text, i, c)
        scalar = COMPLETE_SCALAR.match(text, i)
        if scalar is not None:  # a number a delimiter ends, or a whole literal
            number = scalar.group(1)
            if number is None:
                self._put(LITERALS[c][1])
            else:
                self._put(float(number) if scalar.group(2) or scalar.group(3) else int(number))
            self._ended()
            return scalar.end(1) if number is not None else scalar.end()
        if c == "-" or "0" <= c <= "9":
            return self._number_start(text, i)
        literal = LITERALS.get(c)
        if literal is None:
            raise self._fail(f"expected a value, got {c!r}", self._offset + i)
        self._state = _LITERAL
        self._literal = ""
        return self._literal_token(text, i)

    def _container_or_string(self, text: str, i: int, c: str) -> int:
        # The whole value in this piece (its closing character is there, at
        # least): the C scanner reads it. Else, or if invalid, it is read
        # here, which finds where it is cut or invalid.
        if text.find(CLOSING[c], i + 1) != -1:
            try:
                value, end = scan_value(text, i)
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
        return self._close_or(text, i, "]", _VALUE)

    def _key_or_close(self, text: str, i: int) -> int:
        return self._close_or(text, i, "}", _KEY)

    def _close_or(self, text: str, i: int, closing: str, then: int) -> int:
        """Just opened: its end at once, or ``then`` (blanks may come first,
        in this piece or the next)."""
        i = WS.match(text, i).end()  # type: ignore[union-attr]
        if i == len(text):
            return i
        if text[i] == closing:
            self._close()
            return i + 1
        self._state = then
        return i

    def _key(self, text: str, i: int) -> int:
        i = WS.match(text, i).end()  # type: ignore[union-attr]
        if i == len(text):
            return i
        if text[i] != '"':
            raise self._fail(f"expected a key in double quotes, got {text[i]!r}", self._offset + i)
        if text.find('"', i + 1) != -1:  # complete here, unless invalid
            try:
                key, end = scan_string(text, i + 1)
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
        i = WS.match(text, i).end()  # type: ignore[union-attr]
        if i == len(text):
            return i
        if text[i] != ":":
            raise self._fail(f"expected ':' after a key, got {text[i]!r}", self._offset + i)
        self._state = _VALUE
        return i + 1

    def _after_value(self, text: str, i: int) -> int:
        in_object = type(self._stack[-1]) is dict
        if in_object:  # the common `, "key": ` at once (a plain key, all in this piece)
            sep = NEXT_KEY.match(text, i)
            if sep is not None:
                self._keys[-1] = sep.group(1)
                self._state = _VALUE
                return self._value(text, sep.end())
        i = WS.match(text, i).end()  # type: ignore[union-attr]
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
        i = WS.match(text, i).end()  # type: ignore[union-attr]
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
            run = PLAIN.match(text, i)
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
        decoded, used, bad = decode_escape(pending)
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
        run = NUM_RUN.match(text, i)
        end = i if run is None else run.end()
        start = self._offset + i - len(self._number)
        token = self._number + text[i:end]
        if NUMBER_PREFIX.fullmatch(token) is None:
            raise self._fail("invalid number", start + valid_prefix(token))
        if end == len(text):  # the next piece may go on with it
            self._number = token
            return end
        self._number = ""
        self._put(self._number_value(token, start, self._offset + end))
        self._ended()
        return end

    def _number_value(self, token: str, start: int, ended_at: int) -> Any:
        """The value of a number token that ended at ``ended_at``."""
        match = NUMBER.fullmatch(token)
        if match is None:  # a valid start only ("-", "1.", "1e"): what ended it is wrong
            raise self._fail(f"incomplete number {token!r}", ended_at)
        try:
            return float(token) if match.group(1) or match.group(2) else int(token)
        except ValueError as exc:  # more digits than int() takes
            raise self._fail(str(exc), start) from None

    def _literal_token(self, text: str, i: int) -> int:
        word, value = LITERALS[(self._literal or text[i])[0]]
        need = word[len(self._literal):]
        got = text[i:i + len(need)]
        bad = first_difference(got, need)
        if bad >= 0:
            raise self._fail(f"expected {word!r}", self._offset + i + bad)
        self._literal += got
        if self._literal == word:
            self._literal = ""
            self._put(value)
            self._ended()
        return i + len(got)


_STEPS: list[Callable[[PartialJSON, str, int], int]] = [
    PartialJSON._value, PartialJSON._value_or_close, PartialJSON._key,
    PartialJSON._key_or_close, PartialJSON._colon, PartialJSON._after_value,
    PartialJSON._done, PartialJSON._string, PartialJSON._number_token,
    PartialJSON._literal_token,
]
