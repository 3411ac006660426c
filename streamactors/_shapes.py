"""Partial values shaped like a Pydantic model, built as the JSON grows.

Instances are made without validation (a partial value is rarely valid:
fields not seen yet are None), in time linear in the answer: what is closed
is shaped once. Sans I/O.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

__all__ = ["Shaper"]

#: How one annotation is shaped: (kind, argument).
_PLAIN, _MODEL, _LIST, _DICT = range(4)
_Plan = tuple[int, Any]


class Shaper:
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


def _in_union(annotation: Any, pick: Callable[[Any], Any]) -> Any:
    """``pick(annotation)``, or for a union the first of its members' that is
    not None (``X | None`` names X)."""
    found = pick(annotation)
    if found is None and typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _in_union(arg, pick)
            if found is not None:
                break
    return found


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class ``annotation`` names (alone, or in a union)."""
    model: type[BaseModel] | None = _in_union(annotation, _a_model)
    return model


def _a_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _value_type(annotation: Any) -> Any:
    """The value type of a ``dict[str, X]`` annotation (alone, or in a
    union) when X names a model, else None."""
    return _in_union(annotation, _dict_of_models)


def _dict_of_models(annotation: Any) -> Any:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is dict and len(args) == 2 and _model_in(args[1]):
        return args[1]
    return None


def _item_type(annotation: Any) -> Any:
    """The element type of a list-like ``annotation`` (alone, or in a
    union), or None."""
    return _in_union(annotation, _list_item)


def _list_item(annotation: Any) -> Any:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (list, tuple, set, frozenset) and args:
        return args[0]
    return None
