"""``python -m streamactors relay``: the ``RelayServer`` from the command line.

What it serves is fixed at start: the ``--model`` names (repeatable), the
names matching ``--allow-model`` patterns, or the routes of
``Router.from_env()`` (``--route``, or when nothing else is named); with no
provider configured at all, the demo server's model. ``--base-url`` belongs
to the provider of the ``--model`` names and is passed on their calls only.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from ._cli_common import _DEMO_MODEL, _Failed, check_key, start_demo
from ._cli_output import say
from .api import Client
from .router import Router, configured_providers

__all__ = ["run_relay"]


def _served(args: argparse.Namespace, env: Mapping[str, str], client: Client
            ) -> tuple[list[str], Router | None]:
    """The ``--model`` names (their keys checked) and the router, if any."""
    models: list[str] = list(args.model)
    if args.base_url and not (models or args.allow_model):
        raise _Failed("--base-url needs --model provider/model (or --allow-model): it "
                      "belongs to that model's provider and is sent to no other")
    for model in models:
        check_key(model, None, env, flag=None)
    if args.route or (not (models or args.allow_model) and configured_providers(env)):
        if args.base_url:
            raise _Failed("--base-url does not go with routes: each route of "
                          "Router.from_env() has its provider's own base URL")
        router = Router.from_env(env, client=client)
        if args.route and args.route not in router.routes:
            raise _Failed(f"unknown route {args.route!r}; configured routes: "
                          f"{', '.join(router.routes)}")
        return models, router
    return models, None


def run_relay(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Serve until Ctrl-C; returns the exit status."""
    from .web._relay import RelayServer

    demo: Any = None
    client = Client()
    try:
        models, router = _served(args, env, client)
        base_url = args.base_url
        if router is None and not (models or args.allow_model):
            demo = start_demo()
            client.close()
            client = Client(api_key="demo")
            models, base_url = [_DEMO_MODEL], demo.url("openai")
        try:
            relay = RelayServer(models=models, allow_models=args.allow_model,
                                base_url=base_url, max_retries=args.max_retries,
                                router=router, route=args.route, client=client,
                                host=args.host, port=args.port, api_key=args.key,
                                keepalive=args.keepalive)
        except OSError as exc:
            raise _Failed(f"cannot listen on {args.host}:{args.port}: {exc}") from None
        say(f"streamactors relay on {relay.url}/v1 serving {', '.join(relay.models())}; "
            "Ctrl-C to stop")
        try:
            relay.serve_forever()
        except KeyboardInterrupt:
            pass
        relay.stop()
        return 0
    finally:
        if demo is not None:
            demo.stop()
        client.close()
