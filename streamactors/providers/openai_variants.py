"""How the servers that speak OpenAI Chat Completions differ from each other.

``openai``, ``mistral``, ``openrouter`` and ``openai-compatible`` share one
codec; what sets them apart is data: the request fields each takes (see
``openai_fields.py``) and which message keys of the normalized form it
refuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ._fields import PASSED, FieldTable, refused, translated
from .openai_fields import COMPATIBLE_CHAT, MISTRAL_CHAT, OPENAI_CHAT, OPENROUTER_CHAT
from .openai_messages import FOREIGN_TO_MISTRAL, FOREIGN_TO_OPENAI, ForeignKeys

__all__ = ["VARIANTS", "Variant", "variant", "with_legacy_rules"]


@dataclass(frozen=True)
class Variant:
    """One server's differences.

    Attributes:
        fields: the request fields it takes, and how.
        foreign: the message keys it refuses (None: messages go as given).
    """

    fields: FieldTable
    foreign: ForeignKeys | None


VARIANTS: Mapping[str, Variant] = {
    "openai": Variant(OPENAI_CHAT, FOREIGN_TO_OPENAI),
    "mistral": Variant(MISTRAL_CHAT, FOREIGN_TO_MISTRAL),
    "openrouter": Variant(OPENROUTER_CHAT, FOREIGN_TO_OPENAI),
    # May be Gemini's OpenAI-compatible endpoint, which reads extra_content.
    "openai-compatible": Variant(COMPATIBLE_CHAT, None),
}


def variant(name: str) -> Variant:
    """The variant of the model prefix ``name``; any other name is served as
    an OpenAI-compatible server (the most lenient)."""
    return VARIANTS.get(name) or VARIANTS["openai-compatible"]


def with_legacy_rules(table: FieldTable, rename: Mapping[str, str] | None,
                      unsupported: tuple[str, ...] | None) -> FieldTable:
    """``table`` with the rows that the older ``rename``/``unsupported``
    arguments of ``OpenAIChatProvider`` describe (a rename is a translated
    row, and the server's own name a passed one; an unsupported field is a
    refused one)."""
    rows = dict(table)
    for ours, theirs in (rename or {}).items():
        rows[ours] = translated(theirs)
        rows.setdefault(theirs, PASSED)  # the server's own spelling is taken as well
    for name in unsupported or ():
        if name not in rows or rows[name].action != "refused":
            rows[name] = refused(f"{name!r} is not taken by this server; drop it")
    return rows
