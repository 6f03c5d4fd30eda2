"""`latency-quiz serve`: the same terminal app in a web browser, through textual-serve.

Each browser tab gets its own app process (the command below), on the same database and as
the same user as `serve` itself. Loopback addresses are served as they are; any other address
needs a token: the first request carries it as ``?token=...`` and gets it back as a cookie, and
every request without the right one (page, script, websocket) is refused with 403.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import os
import secrets
import shlex
import sys
from typing import Any

from quiz.cli._common import CliContext
from quiz.errors import UsageError

TOKEN_COOKIE = "latency_quiz_token"
LOOPBACK_NAMES = {"localhost"}


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="serve the app to a web browser (loopback only unless given a token)",
        description="Serve the terminal app over HTTP with textual-serve: open the printed "
        "address in a browser. Binding a non-loopback address requires a token, which every "
        "request must carry (the printed address includes it).",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--token",
        help="the access token for a non-loopback address (default: a new random one)",
    )
    serve.add_argument(
        "--public-url",
        metavar="URL",
        help="the address browsers use to reach this server, when it differs from "
        "http://HOST:PORT (behind a proxy, or listening on 0.0.0.0)",
    )
    serve.set_defaults(func=cmd_serve)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def app_command(user: str) -> str:
    """The shell command textual-serve runs for each browser tab. The database URL reaches it
    through the environment (``LATENCY_QUIZ_DB``), so a password never shows in ``ps``."""
    return shlex.join([sys.executable, "-m", "quiz", "--user", user])


def cmd_serve(args: argparse.Namespace, ctx: CliContext) -> int:
    from quiz import config

    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port must be between 1 and 65535, not {args.port}")
    token = None
    if not is_loopback(args.host):
        token = args.token or secrets.token_urlsafe(24)
    elif args.token:
        token = args.token
    user = config.user_name()
    store = ctx.store()  # open and migrate now: a bad --db is one line here, not one per tab
    if ctx.db_url:
        os.environ[config.DB_ENV] = ctx.db_url  # for the app processes (see app_command)
    server = build_server(
        app_command(user),
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        token=token,
    )
    address = server.public_url + (f"/?token={token}" if token else "/")
    print(f"Serving latency-quiz for {user} on {store.shown}")
    print(f"Open {address}")
    if token:
        print("Every request must carry this token; anyone who has it can use the app as " + user)
    print("Press Ctrl+C to stop.")
    server.serve()
    return 0


def build_server(
    command: str, *, host: str, port: int, public_url: str | None, token: str | None
) -> Any:
    """A textual-serve Server for ``command``; with a token, one that checks it on every
    request."""
    try:
        from aiohttp import web
        from textual_serve.server import Server
    except ImportError:
        raise UsageError("serve needs textual-serve: pip install 'latency-quiz[serve]'") from None

    @web.middleware
    async def require_token(request: web.Request, handler: Any) -> web.StreamResponse:
        given = request.query.get("token") or request.cookies.get(TOKEN_COOKIE) or ""
        if token is None or not hmac.compare_digest(given.encode(), token.encode()):
            raise web.HTTPForbidden(
                text="latency-quiz: this server needs its access token "
                "(open the address `latency-quiz serve` printed, with ?token=...)\n"
            )
        response: web.StreamResponse = await handler(request)
        if "token" in request.query and not response.prepared:
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
        return response

    class QuizServer(Server):
        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            if token is not None:
                app.middlewares.append(require_token)
            return app

        async def on_startup(self, app: web.Application) -> None:
            """Quiet: cmd_serve already printed the address (the command may hold a password)."""

    return QuizServer(command, host=host, port=port, title="latency-quiz", public_url=public_url)
