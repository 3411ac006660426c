"""Structured output: what ``response_format=`` asks for, and reading it back.

A ``response_format`` given as a Pydantic model class, a JSON Schema with a
``title``, or ``{"name": ..., "schema": ...}`` becomes an ``OutputSpec``: the
OpenAI ``json_schema`` format every codec translates for its provider (in
OpenAI's strict form: every object closed and every property required) and
the model to validate the answer with (partial values are shaped like it in
``_shapes``). A ``response_format`` already in OpenAI's wire form (``{"type": ...}``)
is passed on as it is, and nothing is parsed: the answer stays text.

Sans I/O: no clocks, no threads.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from ._result import StreamResult
from ._tools import ToolSpec, described
from .errors import ConfigurationError, OutputValidationError, StreamError
from .partial_json import PartialJSON

__all__ = ["OutputSpec", "output_spec", "read_output", "strict_schema"]

_WIRE_TYPES = ("text", "json_object", "json_schema")
_NAME_BAD = re.compile(r"[^a-zA-Z0-9_-]")


@dataclass(frozen=True)
class OutputSpec:
    """The JSON answer a stream asked for.

    Attributes:
        name: the schema's name (a model's class name), as providers want it.
        schema: the JSON Schema sent (strict form when ``strict``).
        strict: whether the provider is asked to follow it exactly.
        model: the Pydantic model the answer is validated with, or None (the
            answer is then only parsed as JSON).
    """

    name: str
    schema: Mapping[str, Any]
    strict: bool = True
    model: type[BaseModel] | None = None

    def wire_format(self) -> dict[str, Any]:
        """The OpenAI Chat Completions ``response_format`` (its schema a copy:
        a spec is shared by every request of its model)."""
        return {"type": "json_schema",
                "json_schema": {"name": self.name, "schema": copy.deepcopy(dict(self.schema)),
                                "strict": self.strict}}

    def parse(self, text: str) -> Any:
        """The answer, validated: a ``model`` instance, or the JSON value."""
        if self.model is None:
            try:
                return json.loads(text, parse_constant=_refuse_constant)
            except ValueError:
                raise _syntax_error(text) from None
        try:
            return self.model.model_validate_json(text)
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                raise _syntax_error(text) from None
            raise _schema_error(text, exc) from None


def read_output(spec: OutputSpec | None, tools: Mapping[str, ToolSpec], result: StreamResult,
                error: StreamError | None) -> tuple[StreamResult, StreamError | None]:
    """At the end of a stream: its result with ``parsed`` set, or the
    ``OutputValidationError`` that ends it instead. A failed stream, a
    refusal and an answer that is a tool call are left as they are. Tool
    calls of tools given as models or functions learn their model."""
    if tools:
        _attach_tools(tools, result)
    if spec is None or error is not None or result.refusal is not None:
        return result, error
    if result.tool_calls and not result.text.strip():
        return result, None
    try:
        parsed = spec.parse(result.text)
    except OutputValidationError as exc:
        return result, exc
    return result.model_copy(update={"parsed": parsed}), None


def _attach_tools(tools: Mapping[str, ToolSpec], result: StreamResult) -> None:
    for choice in result.choices:
        for call in choice.tool_calls:
            spec = tools.get(call.name or "")
            if spec is not None:
                call._validate = spec.validate


def output_spec(fmt: object) -> OutputSpec | None:
    """The ``OutputSpec`` of a ``response_format``; None for OpenAI's own form.

    Raises:
        ConfigurationError: a value none of the accepted forms, naming them.
    """
    if isinstance(fmt, type) and issubclass(fmt, BaseModel):
        return _model_spec(fmt)
    if isinstance(fmt, Mapping):
        if fmt.get("type") in _WIRE_TYPES and set(fmt) <= {"type", "json_schema"}:
            return None
        if isinstance(fmt.get("schema"), Mapping) and isinstance(fmt.get("name"), str):
            strict = fmt.get("strict", True) is not False
            schema = fmt["schema"]
            return OutputSpec(_name(fmt["name"]), strict_schema(schema) if strict else schema,
                              strict)
        if isinstance(fmt.get("title"), str) and "properties" in fmt:
            return OutputSpec(_name(fmt["title"]), strict_schema(fmt), True)
    raise ConfigurationError(
        "response_format must be a Pydantic model class, a JSON Schema with a 'title' and "
        "'properties', {'name': ..., 'schema': {...}}, or OpenAI's own "
        f"{{'type': 'json_schema' | 'json_object' | 'text', ...}}; got {fmt!r:.80}")


@functools.lru_cache(maxsize=256)
def _model_spec(model: type[BaseModel]) -> OutputSpec:
    """Once per model class: its JSON Schema costs about half a millisecond."""
    return OutputSpec(_name(model.__name__), strict_schema(model.model_json_schema()), True,
                      model)


def _name(name: str) -> str:
    """A schema name providers accept: ``[a-zA-Z0-9_-]``, at most 64."""
    return (_NAME_BAD.sub("_", name) or "output")[:64]


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# -- OpenAI's strict form ---------------------------------------------------------


def strict_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` in the form OpenAI's strict mode requires: every
    object ``additionalProperties: false`` with all its properties required,
    no ``default``, and a ``$ref`` with keys beside it inlined (only a bare
    ``$ref`` may stand)."""
    out = copy.deepcopy(dict(schema))
    defs = out.get("$defs", {})
    _make_strict(out, defs)
    for sub in defs.values():
        _make_strict(sub, defs)
    return out


def _make_strict(node: Any, defs: Mapping[str, Any]) -> None:
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str) and len(node) > 1 and ref.startswith("#/$defs/"):
        target = defs.get(ref[len("#/$defs/"):])
        if isinstance(target, dict):
            del node["$ref"]
            node.update({k: copy.deepcopy(v) for k, v in target.items() if k not in node})
    node.pop("default", None)
    if node.get("type") == "object" or "properties" in node:
        props = node.get("properties", {})
        node["additionalProperties"] = False
        node["required"] = list(props)
        for sub in props.values():
            _make_strict(sub, defs)
    for key in ("items", "not"):
        _make_strict(node.get(key), defs)
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for sub in node.get(key, ()):
            _make_strict(sub, defs)


# -- errors -------------------------------------------------------------------------


def _last_value(text: str) -> Any:
    parser = PartialJSON()
    try:
        parser.feed(text)
    except OutputValidationError:
        pass
    return parser.value


def _syntax_error(text: str) -> OutputValidationError:
    parser = PartialJSON()
    try:
        parser.feed(text)
        parser.finish()
    except OutputValidationError as exc:
        return OutputValidationError(f"the answer is not valid JSON: {exc.message}",
                                     offset=exc.offset, value=parser.value)
    # json.loads refused what PartialJSON takes: the two grammars differ
    return OutputValidationError("the answer is not valid JSON", value=parser.value)


def _schema_error(text: str, exc: ValidationError) -> OutputValidationError:
    shown, errors = described(exc)
    return OutputValidationError(f"the answer does not match {exc.title}: {shown}",
                                 value=_last_value(text), errors=errors)
