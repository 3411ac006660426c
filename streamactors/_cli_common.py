"""What the ``chat`` and ``relay`` commands share: the demo server, the key
check that names the command's own flag, and the error that ends a command
with one ``error: ...`` line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._cli_output import say
from .errors import ConfigurationError
from .providers import PROVIDERS
from .router import DEFAULT_MODELS

__all__ = ["DEMO_TOKENS_PER_SECOND", "_DEMO_MODEL", "_Failed", "check_key", "start_demo"]

#: Pace of the demo server's answers, in tokens per second.
DEMO_TOKENS_PER_SECOND = 30.0
_DEMO_MODEL = "openai/demo-model"


class _Failed(Exception):
    """Ends the command with one ``error: ...`` line and exit status 1."""


def check_key(model: str, api_key: str | None, env: Mapping[str, str],
              flag: str | None = "--api-key") -> None:
    """Fail before any request when ``model``'s provider needs a key and none
    is given: the message names the CLI's flag (when it has one) and the
    environment variables, which is what a user at the shell can change."""
    info = PROVIDERS.get(model.partition("/")[0])
    if info is None or not info.key_required or api_key:
        return
    if any(env.get(name) for name in info.key_env):
        return
    where = " or ".join(info.key_env)
    how = f"pass {flag} or set {where}" if flag else f"set {where}"
    raise ConfigurationError(f"no API key for {info.prefix}/: {how}")


def start_demo() -> Any:
    """The built-in demo server (the loopback server), announced on stderr."""
    from .testing import LoopbackServer, Script

    server = LoopbackServer(Script(tokens_per_second=DEMO_TOKENS_PER_SECOND)).start()
    keys = ", ".join(
        "OLLAMA_HOST" if p == "ollama" else "/".join(PROVIDERS[p].key_env)
        for p in DEFAULT_MODELS
    )
    say(f"streamactors: no provider configured ({keys} unset; or pass --model): "
        "answering from the built-in demo server")
    return server
