"""Structured output: what ``response_format=`` asks for, and reading it back.

A ``response_format`` given as a Pydantic model class, a JSON Schema with a
``title``, or ``{"name": ..., "schema": ...}`` becomes an ``OutputSpec``: the
OpenAI ``json_schema`` format every codec translates for its provider (in
OpenAI's strict form: every object closed and every property required), the
model to validate the answer with, and how to shape a partial value like the
model. A ``response_format`` already in OpenAI's wire form (``{"type": ...}``)
is passed on as it is, and nothing is parsed: the answer stays text.

Sans I/O: no clocks, no threads.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from ._result import StreamResult
from .errors import ConfigurationError, OutputValidationError, StreamError
from .partial_json import PartialJSON

__all__ = ["OutputSpec", "PartialOutput", "output_spec", "read_output", "strict_schema"]

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



class PartialOutput:
    """The partial answer of one stream, for ``partials()`` and
    ``handle_partial``: ``add`` each chunk's text, then ``step()`` once per
    value the consumer takes (the text added meanwhile is parsed in one go:
    tokens split across chunks come whole), then ``value()``.

    Text that stops being JSON stops the partial values; the error is kept in
    ``error`` (a stream with an ``OutputSpec`` then ends with it anyway)."""

    __slots__ = ("_parser", "_pending", "_shaper", "error")

    def __init__(self, spec: OutputSpec | None) -> None:
        self._parser = PartialJSON()
        self._pending: list[str] = []
        model = None if spec is None else spec.model
        self._shaper = None if model is None else _Shaper(model)
        self.error: OutputValidationError | None = None

    def add(self, text: str | None) -> None:
        """A chunk's text (read at the next ``step``)."""
        if text:
            self._pending.append(text)

    def step(self) -> bool:
        """Read the text added since the last step; True if there is a
        partial value to show (new text read, and a value started)."""
        if not self._pending or self.error is not None:
            return False
        text = "".join(self._pending)
        self._pending.clear()
        try:
            self._parser.feed(text)
        except OutputValidationError as exc:
            self.error = exc
            return False
        return self._parser.has_value

    def value(self) -> Any:
        """The partial value: shaped like the model (instances whose fields
        not seen yet are None; not validated), else the JSON value itself.
        Containers grow in place: copy a value to keep it as it was."""
        value = self._parser.value
        if self._shaper is None:
            return value
        return self._shaper.shape(value, self._parser.open_containers)


def read_output(spec: OutputSpec | None, result: StreamResult, error: StreamError | None
                ) -> tuple[StreamResult, StreamError | None]:
    """At the end of a stream: its result with ``parsed`` set, or the
    ``OutputValidationError`` that ends it instead. A failed stream, a
    refusal and an answer that is a tool call are left as they are."""
    if spec is None or error is not None or result.refusal is not None:
        return result, error
    if result.tool_calls and not result.text.strip():
        return result, None
    try:
        parsed = spec.parse(result.text)
    except OutputValidationError as exc:
        return result, exc
    return result.model_copy(update={"parsed": parsed}), None


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
    errors = exc.errors(include_url=False, include_input=False)
    shown = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
                      for e in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return OutputValidationError(
        f"the answer does not match {exc.title}: {shown}{more}",
        value=_last_value(text), errors=[dict(e) for e in errors])


# -- partial values shaped like the model ---------------------------------------------


#: How one annotation is shaped: (kind, argument).
_PLAIN, _MODEL, _LIST, _DICT = range(4)
_Plan = tuple[int, Any]


class _Shaper:
    """Shapes a growing JSON value like a model, in time linear in the answer:
    a closed object's instance and a list's closed items are shaped once and
    reused; only the open path (``PartialJSON.open_containers``) is shaped
    again at each step. Annotations are read once per model, not per step."""

    __slots__ = ("_closed", "_fields", "_lists", "_model", "_open")

    def __init__(self, model: type[BaseModel]) -> None:
        self._model = model
        #: id of a closed object -> (the object, its instance)
        self._closed: dict[int, tuple[Any, BaseModel]] = {}
        #: id of a list -> (the list, its shaped items, how many are final)
        self._lists: dict[int, tuple[list[Any], list[Any], list[int]]] = {}
        self._open: set[int] = set()
        #: each model's fields: (attribute, JSON key, plan)
        self._fields: dict[type[BaseModel], list[tuple[str, str, _Plan]]] = {}

    def shape(self, value: Any, open_containers: list[Any]) -> Any:
        if not isinstance(value, dict):
            return value
        self._open = {id(c) for c in open_containers}
        return self._object(self._model, value)

    def _object(self, model: type[BaseModel], value: dict[str, Any]) -> BaseModel:
        key = id(value)
        closed = self._closed.get(key)
        if closed is not None and closed[0] is value:
            return closed[1]
        fields = self._fields.get(model)
        if fields is None:
            fields = self._fields[model] = [
                (name, info.alias or name, _plan(info.annotation))
                for name, info in model.__pydantic_fields__.items()]
        shape = self._shape
        instance = _instance(model, {
            name: None if (raw := value.get(json_key)) is None else shape(plan, raw)
            for name, json_key, plan in fields})
        if key not in self._open:
            self._closed[key] = (value, instance)
        return instance

    def _shape(self, plan: _Plan, value: Any) -> Any:
        kind, arg = plan
        if kind == _MODEL and isinstance(value, dict):
            return self._object(arg, value)
        if kind == _LIST and isinstance(value, list):
            return self._list(arg, value)
        if kind == _DICT and isinstance(value, dict):  # not cached: rare
            return {k: self._shape(arg, v) for k, v in value.items()}
        return value

    def _list(self, item: _Plan, value: list[Any]) -> list[Any]:
        key = id(value)
        entry = self._lists.get(key)
        if entry is None or entry[0] is not value:
            entry = self._lists[key] = (value, [], [0])
        shaped, final = entry[1], entry[2]
        del shaped[final[0]:]  # items shaped while they were still open
        for element in value[len(shaped):]:
            shaped.append(self._shape(item, element))
        # In an open array only the last element may still grow.
        final[0] = len(value) - 1 if key in self._open and value else len(value)
        return list(shaped)


def _plan(annotation: Any) -> _Plan:
    model = _model_in(annotation)
    if model is not None:
        return _MODEL, model
    item = _item_type(annotation)
    if item is not None:
        return _LIST, _plan(item)
    values = _value_type(annotation)
    if values is not None:
        return _DICT, _plan(values)
    return _PLAIN, None


def _instance(model: type[BaseModel], fields: dict[str, Any]) -> BaseModel:
    """``model.model_construct(**fields)`` for ``fields`` naming every field,
    at a third of its cost where that is the same thing (no private
    attributes, no extra fields): a partial value is built at every step."""
    if model.__private_attributes__ or model.model_config.get("extra") == "allow":
        return model.model_construct(**fields)
    instance = model.__new__(model)
    object.__setattr__(instance, "__dict__", fields)
    object.__setattr__(instance, "__pydantic_fields_set__", set(fields))
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class ``annotation`` names (alone, or in a union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return None


def _value_type(annotation: Any) -> Any:
    """The value type of a ``dict[str, X]`` annotation (alone, or in a
    union) when X names a model, else None."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is dict and len(args) == 2 and _model_in(args[1]) is not None:
        return args[1]
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            found = _value_type(arg)
            if found is not None:
                return found
    return None


def _item_type(annotation: Any) -> Any:
    """The element type of a list-like ``annotation`` (alone, or in a
    union), or None."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple, set, frozenset) and args:
        return args[0]
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            found = _item_type(arg)
            if found is not None:
                return found
    return None
