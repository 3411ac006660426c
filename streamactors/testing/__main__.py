"""``python -m streamactors.testing``: run the loopback server in the foreground.

Handy for a demo or for pointing any OpenAI/Anthropic/Gemini/Ollama client at
a server that needs no key::

    python -m streamactors.testing --port 8080 --tps 20
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from ._script import DEFAULT_TEXT, Script
from ._server import _PROVIDER_PREFIX, LoopbackServer


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, serve until Ctrl-C, return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m streamactors.testing",
        description="Stream scripted LLM answers in every provider's format on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 = any)")
    parser.add_argument(
        "--tps", type=float, default=None, help="tokens per second (default: no pacing)"
    )
    parser.add_argument("--text", default=DEFAULT_TEXT, help="the answer every request gets")
    args = parser.parse_args(argv)
    if args.tps is not None and args.tps <= 0:
        parser.error("--tps must be positive")

    server = LoopbackServer(
        Script(text=args.text, tokens_per_second=args.tps), args.host, args.port
    )
    try:
        server.start()
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"streamactors loopback server at {server.base_url}", flush=True)
    for provider in sorted(_PROVIDER_PREFIX):
        print(f"  {provider:<18} base_url={server.url(provider)}")
    print("Ctrl-C to stop.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
