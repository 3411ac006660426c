"""Which model names a ``RelayServer`` serves, and where each one goes.

The relay holds upstream keys, so what it serves is an allow list fixed when
it starts: the routes of its router, the ``provider/model`` names it was
given, and ``fnmatch`` patterns over ``provider/model``. A request naming
anything else is refused (404), never quietly answered by some default: a
misspelled model must not cost money on another one, and a client must not
pick a provider whose key the relay would then send to a base URL meant for
another provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ..errors import ConfigurationError
from ..providers import PROVIDERS
from ..router import Router

__all__ = ["ServedModels", "Target"]


@dataclass(frozen=True)
class Target:
    """Where one request goes: a route of the router, or a ``provider/model``
    started on the relay's client (with ``base_url`` when it is set)."""

    route: str | None = None
    model: str | None = None
    base_url: str | None = None


def _provider(name: str) -> str | None:
    """The provider prefix of a well-formed ``provider/model``, else None."""
    prefix, sep, rest = name.partition("/")
    return prefix if sep and rest and prefix in PROVIDERS else None


def _check_models(models: Sequence[str]) -> list[str]:
    """The configured names, each checked to be ``provider/model``, de-duplicated."""
    out: list[str] = []
    for name in models:
        if not isinstance(name, str) or _provider(name) is None:
            raise ConfigurationError(
                f"RelayServer models: {name!r} is not 'provider/model' with a known provider "
                f"(one of {', '.join(PROVIDERS)}); write it like 'openai/gpt-4o-mini'"
            )
        if name not in out:
            out.append(name)
    return out


def _check_patterns(patterns: Sequence[str]) -> list[str]:
    if isinstance(patterns, str):
        raise ConfigurationError(
            "RelayServer allow_models: pass a list of patterns, not one string "
            f"(allow_models=[{patterns!r}])"
        )
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            raise ConfigurationError(
                f"RelayServer allow_models: {pattern!r} is not a pattern; give fnmatch "
                "patterns over 'provider/model', such as 'ollama/*'"
            )
    return list(dict.fromkeys(patterns))


def _base_url_provider(base_url: str | None, models: Sequence[str],
                       patterns: Sequence[str]) -> str | None:
    """The provider ``base_url`` belongs to: that of every configured model
    (or, with none, of every pattern's literal prefix). Refuses a mix."""
    if base_url is None:
        return None
    named = [m.split("/", 1)[0] for m in models] or [p.split("/", 1)[0] for p in patterns]
    providers = sorted(set(named))
    if len(providers) == 1 and providers[0] in PROVIDERS:
        return providers[0]
    if not providers:
        fix = "name the models it serves with model= or models="
    else:
        fix = "run one relay per base URL, or serve models of a single provider"
    raise ConfigurationError(
        f"RelayServer base_url={base_url!r} belongs to one provider, but the served models "
        f"name {', '.join(providers) or 'none'}: {fix} (a key must only go to its own "
        "provider's host)"
    )


class ServedModels:
    """The relay's allow list: routes, ``provider/model`` names, patterns."""

    def __init__(self, router: Router | None, models: Sequence[str],
                 patterns: Sequence[str], base_url: str | None,
                 first_route: str | None = None) -> None:
        self._router = router
        self._first = first_route
        self.models = _check_models(models)
        self.patterns = _check_patterns(patterns)
        self._base_provider = _base_url_provider(base_url, self.models, self.patterns)
        self._base_url = base_url
        # "gpt-4o-mini" stands for "openai/gpt-4o-mini" when no other
        # configured name ends the same way (an OpenAI SDK sends bare names).
        parts: dict[str, list[str]] = {}
        for name in self.models:
            parts.setdefault(name.split("/", 1)[1], []).append(name)
        self._by_part = parts
        if router is None and not self.models and not self.patterns:
            raise ConfigurationError(
                "RelayServer serves no model: pass model= or models= ('provider/model'), "
                "allow_models= (patterns such as 'ollama/*') or a router="
            )

    def names(self) -> list[str]:
        """What ``/v1/models`` lists: routes (``first_route`` first), models,
        then patterns as given."""
        routes = list(self._router.routes) if self._router is not None else []
        if self._first in routes:
            routes.remove(self._first)
            routes.insert(0, self._first)
        return list(dict.fromkeys([*routes, *self.models, *self.patterns]))

    def target(self, name: str) -> Target | None:
        """Where a request naming ``name`` goes, or None when it is not served."""
        router = self._router
        if router is not None and name in router.routes:
            return Target(route=name)
        if name in self.models:
            return self._model(name)
        owners = self._by_part.get(name)
        if owners is not None and len(owners) == 1:
            return self._model(owners[0])
        if self.patterns and _provider(name) is not None:
            if any(fnmatchcase(name, p) for p in self.patterns):
                return self._model(name)
        return None

    def _model(self, name: str) -> Target:
        if self._base_provider is not None and name.split("/", 1)[0] == self._base_provider:
            return Target(model=name, base_url=self._base_url)
        return Target(model=name)

    def not_served(self, name: str) -> str:
        """The 404 message for ``name``: what is allowed instead."""
        owners = self._by_part.get(name) or []
        why = (f"is ambiguous on this relay ({', '.join(owners)}): send the full name"
               if len(owners) > 1 else "is not served by this relay")
        return f"model {name!r} {why}; allowed: {', '.join(self.names())}"
