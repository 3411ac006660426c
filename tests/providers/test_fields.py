"""Every request field of every codec is translated, passed or refused as its
``fields`` table says, checked row by row against a recording server; the
table in docs/providers.md is generated from the same declarations.

Regenerate the docs table after changing a codec's table::

    python -m tests.providers.test_fields
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import streamactors as sa
from streamactors.providers import resolve
from streamactors.providers._fields import Field, FieldTable, dig
from streamactors.testing import LoopbackServer

from ._field_samples import CONTEXT, SAMPLES

DOC = Path(__file__).resolve().parents[2] / "docs" / "providers.md"
BEGIN, END = "<!-- fields-table: begin -->", "<!-- fields-table: end -->"

#: (column title, model, kind, chat options) for every codec a user can reach.
COLUMNS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("openai", "openai/m", "chat", {}),
    ("openai Responses", "openai/m", "chat", {"api": "responses"}),
    ("anthropic", "anthropic/m", "chat", {}),
    ("gemini", "gemini/m", "chat", {}),
    ("mistral", "mistral/m", "chat", {}),
    ("openrouter", "openrouter/m", "chat", {}),
    ("ollama", "ollama/m", "chat", {}),
    ("openai-compatible", "openai-compatible/m", "chat", {}),
    ("openai `complete()`", "openai/m", "completion", {}),
    ("ollama `complete()`", "ollama/m", "completion", {}),
]


def _table(model: str, kind: str, options: dict[str, Any]) -> FieldTable:
    provider, _ = resolve(model, base_url="http://127.0.0.1:9", api_key="k", kind=kind,
                          api=options.get("api"))
    return provider.fields


def _cell(rule: Field | None) -> str:
    if rule is None:
        return ""
    if rule.action == "passed":
        return "passed"
    if rule.action == "refused":
        return "refused"
    if rule.action == "implied":
        return f"only `{rule.value!r}`"
    return f"→ `{rule.to}`"


def markdown_table() -> str:
    """The parameter x provider table of docs/providers.md."""
    tables = [_table(m, k, o) for _, m, k, o in COLUMNS]
    names = sorted(set().union(*tables))
    head = "| field | " + " | ".join(title for title, *_ in COLUMNS) + " |"
    rule = "|---" * (len(COLUMNS) + 1) + "|"
    rows = [f"| `{name}` | " + " | ".join(_cell(t.get(name)) for t in tables) + " |"
            for name in names]
    return "\n".join([head, rule, *rows])


def _documented() -> str:
    text = DOC.read_text()
    match = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), text, re.S)
    assert match, f"docs/providers.md has no {BEGIN} ... {END} block"
    return match.group(1)


def test_docs_table_matches_the_codecs() -> None:
    assert _documented() == markdown_table(), "run: python -m tests.providers.test_fields"


ROWS = [(title, model, kind, options, name, rule)
        for title, model, kind, options in COLUMNS
        for name, rule in sorted(_table(model, kind, options).items())]


def test_every_field_has_a_sample() -> None:
    missing = sorted({name for *_, name, rule in ROWS
                      if rule.action in ("passed", "translated")} - set(SAMPLES))
    assert not missing, f"add samples for {missing} to tests/providers/_field_samples.py"


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


def _send(server: LoopbackServer, model: str, kind: str, options: dict[str, Any],
          params: dict[str, Any]) -> dict[str, Any]:
    prefix = model.split("/", 1)[0]
    url = server.url("openai-responses" if options.get("api") else prefix)
    with sa.Client(base_url=url, api_key="sk-fields", timeout=5, max_retries=0) as client:
        if kind == "completion":
            handle = client.complete(model, "Hi", **options, **params)
        else:
            handle = client.chat(model, [{"role": "user", "content": "Hi"}], **options, **params)
        handle.wait(10)
    body: dict[str, Any] = server.requests[-1].json()
    return body


@pytest.mark.timeout(20)
@pytest.mark.parametrize(("title", "model", "kind", "options", "name", "rule"), ROWS,
                         ids=[f"{r[0]}-{r[4]}" for r in ROWS])
def test_field(server: LoopbackServer, title: str, model: str, kind: str,
               options: dict[str, Any], name: str, rule: Field) -> None:
    value = rule.value if rule.action == "implied" else SAMPLES.get(name, "x")
    params = {**CONTEXT.get(name, {}), name: value}
    if rule.action == "refused":
        with pytest.raises(sa.ConfigurationError) as caught:
            _send(server, model, kind, options, params)
        assert repr(name) in str(caught.value) and rule.note in str(caught.value)
        return
    body = _send(server, model, kind, options, params)
    if rule.action == "implied":
        assert name not in body, f"{title}: {name} is implied, it must not be sent"
    elif rule.action == "passed":
        assert body[name] == value, f"{title}: {name} not passed as given"
    else:
        try:
            dig(body, rule.to)
        except KeyError:
            pytest.fail(f"{title}: {name} should be translated to {rule.to}; body: {body}")
        assert name not in body or rule.to.split(".")[0] == name, (
            f"{title}: {name} was translated but also passed as it is")


IMPLIED = [(title, model, kind, options, name, rule) for title, model, kind, options, name, rule
           in ROWS if rule.action == "implied"]


@pytest.mark.parametrize(("title", "model", "kind", "options", "name", "rule"), IMPLIED,
                         ids=[f"{r[0]}-{r[4]}" for r in IMPLIED])
def test_an_implied_field_takes_only_its_value(
        server: LoopbackServer, title: str, model: str, kind: str,
        options: dict[str, Any], name: str, rule: Field) -> None:
    other = 2 if isinstance(rule.value, int) and not isinstance(rule.value, bool) else False
    with pytest.raises(sa.ConfigurationError) as caught:
        _send(server, model, kind, options, {**CONTEXT.get(name, {}), name: other})
    assert repr(name) in str(caught.value) and rule.note in str(caught.value)


@pytest.mark.parametrize(("title", "model", "kind", "options"), COLUMNS,
                         ids=[c[0] for c in COLUMNS])
def test_unknown_field_is_refused_with_a_pointer_to_extra_body(
        server: LoopbackServer, title: str, model: str, kind: str,
        options: dict[str, Any]) -> None:
    with pytest.raises(sa.ConfigurationError) as caught:
        _send(server, model, kind, options, {"temprature": 0.1})
    text = str(caught.value)
    assert "'temprature'" in text and "extra_body" in text and model.split("/")[0] in text


if __name__ == "__main__":  # regenerate the docs table
    text = DOC.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + markdown_table() + "\n" + text[end:])
    print(f"wrote the fields table of {DOC}")
