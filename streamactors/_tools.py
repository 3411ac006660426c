"""Tools given as Pydantic models or Python functions.

``tools=`` takes OpenAI function tools (dicts, passed on as they are), and
also a Pydantic model class (its fields are the arguments) or a function
(its parameters are). Each becomes an OpenAI function tool for the codecs to
translate, plus a ``ToolSpec`` that validates the call's arguments at the
end (``ToolCall.parsed_arguments()``) and shapes its partial arguments while
it streams. Sans I/O.
"""

from __future__ import annotations

import copy
import functools
import inspect
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from .errors import ConfigurationError, OutputValidationError

__all__ = ["ToolSpec", "described", "tool_specs"]

_NAME_OK = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ToolSpec:
    """A tool given as a model or a function.

    Attributes:
        name: the tool's name (the class's or the function's).
        model: the arguments' model (for a function, one built from its
            signature).
        function: the function, when the tool was one.
    """

    name: str
    model: type[BaseModel]
    function: Callable[..., Any] | None = None
    #: the OpenAI function tool sent for it (built once; copied per request)
    wire: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def validate(self, arguments: str) -> Any:
        """The arguments' JSON validated: a ``model`` instance, or for a
        function the dict to call it with.

        Raises:
            OutputValidationError: not valid JSON, or not the model.
        """
        try:
            value = self.model.model_validate_json(arguments)
        except ValidationError as exc:
            shown, errors = described(exc)
            what = ("are not valid JSON" if errors[0]["type"] == "json_invalid"
                    else f"do not match {self.model.__name__}")
            raise OutputValidationError(f"the arguments of tool {self.name!r} {what}: {shown}",
                                        errors=errors) from None
        return dict(value) if self.function is not None else value



def described(exc: ValidationError) -> tuple[str, list[dict[str, Any]]]:
    """Pydantic's errors in one line (the first three, where and what), and
    as a list of dicts (without the input values, which may be long)."""
    details = exc.errors(include_url=False, include_input=False)
    shown = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
                      for e in details[:3])
    more = f" (and {len(details) - 3} more)" if len(details) > 3 else ""
    return shown + more, [dict(e) for e in details]


def tool_specs(tools: object) -> tuple[list[Any], dict[str, ToolSpec]]:
    """``tools`` with models and functions as OpenAI function tools, and the
    spec of each of those by name (empty when all were dicts already).

    Raises:
        ConfigurationError: ``tools`` is not a list; a tool is none of the
            three forms; two tools share a name; a function's parameters
            cannot be arguments.
    """
    if not isinstance(tools, Sequence) or isinstance(tools, (str, bytes)):
        raise ConfigurationError(f"tools must be a list, got {type(tools).__name__}")
    out: list[Any] = []
    specs: dict[str, ToolSpec] = {}
    for tool in tools:
        if isinstance(tool, Mapping):
            out.append(tool)
            continue
        spec = _cached_spec(tool)
        if spec.name in specs:
            raise ConfigurationError(f"two tools are named {spec.name!r}: give one of them "
                                     "another name (rename the function or the class)")
        specs[spec.name] = spec
        out.append(copy.deepcopy(dict(spec.wire)))
    return out, specs


def _cached_spec(tool: object) -> ToolSpec:
    """``_spec``, once per tool object (a model's schema costs about half a
    millisecond); objects that cannot be hashed are built each time."""
    try:
        return _spec_of(tool)
    except TypeError:  # unhashable
        return _spec(tool)


@functools.lru_cache(maxsize=512)
def _spec_of(tool: object) -> ToolSpec:
    return _spec(tool)


def _spec(tool: object) -> ToolSpec:
    if isinstance(tool, type) and issubclass(tool, BaseModel):
        return _with_wire(ToolSpec(_checked_name(tool.__name__), tool))
    if inspect.isfunction(tool) or inspect.ismethod(tool):
        return _with_wire(ToolSpec(_checked_name(tool.__name__), _arguments_model(tool), tool))
    raise ConfigurationError(
        "each tool must be an object (an OpenAI function tool {'type': 'function', "
        f"'function': {{...}}}}), a Pydantic model class or a function; got {tool!r:.60}")


def _with_wire(spec: ToolSpec) -> ToolSpec:
    """``spec`` with the OpenAI function tool sent for it: the docstring as
    its description, the model's JSON Schema as its parameters."""
    doc = inspect.getdoc(spec.function if spec.function is not None else spec.model)
    function: dict[str, Any] = {"name": spec.name, "parameters": spec.model.model_json_schema()}
    if doc:
        function["description"] = doc
    return replace(spec, wire={"type": "function", "function": function})


def _checked_name(name: str) -> str:
    if not _NAME_OK.match(name):
        raise ConfigurationError(f"a tool name must be 1-64 letters, digits, '_' or '-'; "
                                 f"{name!r} is not: rename it")
    return name


def _arguments_model(fn: Callable[..., Any]) -> type[BaseModel]:
    """A model whose fields are ``fn``'s parameters (named, annotated or Any)."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # a name its annotations use cannot be found
        raise ConfigurationError(f"tool function {fn.__name__}(): its annotations cannot be "
                                 f"read ({exc}); import what they name in its module") from None
    fields: dict[str, Any] = {}
    for name, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise ConfigurationError(
                f"tool function {fn.__name__}(): its parameter {name!r} cannot be given by "
                "name from JSON; use plain named parameters")
        default = ... if param.default is param.empty else param.default
        fields[name] = (hints.get(name, Any), default)
    model: type[BaseModel] = create_model(
        fn.__name__, __config__=ConfigDict(extra="forbid"), **fields)
    return model
