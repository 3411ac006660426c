"""Which request fields each codec takes, and what it does with each one.

Every codec declares, in its ``fields`` table, each request field it accepts
(``temperature``, ``tools``, ``reasoning_effort``...) and how it handles it:

* ``translated``: written into the provider's own form, at ``to`` (a dotted
  path in the request body, such as ``generationConfig.topP``);
* ``passed``: sent as it is, under the same name;
* ``implied``: accepted only with a value that asks for what the provider
  does anyway (``n=1``; ``stream_options`` asking for usage where usage is
  always sent), and not sent; any other value is refused;
* ``refused``: a ``ConfigurationError`` before any request, saying what to use
  instead.

A field missing from the table is refused as well, with a pointer to
``extra_body=``, which sends fields the library does not know exactly as
given. So nothing reaches a provider blind: an OpenAI-only field given for
Gemini is translated or refused, never sent for the API to answer 400.

The table in docs/providers.md is generated from these declarations, and the
tests send every row to a recording server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ConfigurationError

__all__ = ["PASSED", "Field", "FieldTable", "check_fields", "implied", "refused", "translated",
           "without_implied"]

Action = Literal["translated", "passed", "implied", "refused"]


@dataclass(frozen=True)
class Field:
    """How one codec handles one request field.

    Attributes:
        action: ``translated``, ``passed``, ``implied`` or ``refused``.
        to: for ``translated``, where the value lands in the request body (a
            dotted path; the tests check it is there).
        note: for ``refused``, what to use instead; for ``implied``, why
            other values cannot be honoured; for ``translated``, an optional
            word on how.
        value: for ``implied``, the one value accepted.
    """

    action: Action
    to: str = ""
    note: str = ""
    #: for ``implied``, the one value accepted
    value: Any = None


FieldTable = Mapping[str, Field]

#: The field is sent under its own name, unchanged.
PASSED = Field("passed")


def translated(to: str, note: str = "") -> Field:
    """The field is written into the provider's own form at ``to``."""
    return Field("translated", to, note)


def implied(value: Any, why: str) -> Field:
    """The field is accepted only as ``value`` (what the provider does anyway)
    and not sent; ``why`` says why another value cannot be honoured."""
    return Field("implied", "", why, value)


def refused(instead: str) -> Field:
    """The field cannot be sent to this provider; ``instead`` says what to do."""
    return Field("refused", "", instead)


def check_fields(provider: str, params: Iterable[str] | Mapping[str, Any],
                 table: FieldTable) -> None:
    """Raise one ``ConfigurationError`` naming every field of ``params`` that
    ``table`` refuses or does not know, with the provider and the fix; given a
    mapping, also every implied field with another value than its one."""
    problems = []
    for name in params:
        rule = table.get(name)
        if rule is not None and rule.action == "implied" and isinstance(params, Mapping):
            value = params[name]
            if type(value) is not type(rule.value) or value != rule.value:
                problems.append(f"{provider} takes the request field {name!r} only as "
                                f"{rule.value!r} (got {value!r:.40}): {rule.note}")
            continue
        if rule is None:
            problems.append(
                f"{provider} does not take the request field {name!r} (the library does not "
                f"know it for this provider); check its spelling, or pass "
                f"extra_body={{{name!r}: ...}} to send it as it is"
            )
        elif rule.action == "refused":
            problems.append(f"{provider} cannot take the request field {name!r}: {rule.note}")
    if problems:
        raise ConfigurationError("; ".join(problems))


def without_implied(params: Mapping[str, Any], table: FieldTable) -> dict[str, Any]:
    """``params`` without its implied fields (checked already: not to be sent)."""
    return {k: v for k, v in params.items()
            if (rule := table.get(k)) is None or rule.action != "implied"}


def dig(body: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` of a request body (KeyError if absent)."""
    value: Any = body
    for part in path.split("."):
        if not isinstance(value, Mapping):
            raise KeyError(path)
        value = value[part]
    return value
