"""The runbook's alert and incident commands, as a thin HTTP client of the router API.

``vigil alert ...`` (router/cli_alerts.py) and ``vigil incident ...``
(router/cli_incidents.py) register here (runbook: ``npm run alert:context``,
``incident:create``, ...). This module holds what they share: the router client, ``--url``
(default http://127.0.0.1:18091), the token (``--token``, ``--token-file``,
``VIGIL_ROUTER_TOKEN``, else the one `vigil up` wrote), ``--json``, who acts (``--who``,
else a personal token's user as the router says, else $USER) and the table/time formatting
for people.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from typing import Any

from vigil.core import httpclient
from vigil.core.cliargs import arg
from vigil.core.errors import VigilError

DEFAULT_URL = "http://127.0.0.1:18091"


# The options of every command that talks to the router.
ROUTER = (
    arg("--url", default=os.environ.get("VIGIL_ROUTER_URL", DEFAULT_URL),
        help=f"router base URL (default {DEFAULT_URL}, env VIGIL_ROUTER_URL)"),
    arg("--token", default=None,
        help="bearer token (default: env VIGIL_ROUTER_TOKEN, else the token `vigil up` wrote "
             "to its state folder; prefer the env var or --token-file over --token, which "
             "other users can see in the process list)"),
    arg("--token-file", default=None, metavar="FILE",
        help="read the bearer token from FILE (your personal token, auth.users in router.yml: "
             "keep it mode 0600); wins over VIGIL_ROUTER_TOKEN"),
    arg("--json", action="store_true",
        help="print the router's JSON document (for scripts) instead of tables"),
)
ID = arg("id", type=int)
BY = arg("--by", "--who", dest="who", default=None,
         help="who did it (default: your personal token's user; with the shared token $USER, "
              "taken on trust)")


def common(p: argparse.ArgumentParser) -> None:
    """ROUTER's options on a parser built by hand."""
    for flags, kwargs in ROUTER:
        p.add_argument(*flags, **kwargs)


EXIT_CODES = ("exit codes: 0 done (the answer is printed), 1 the router refused or could not "
              "be reached (the message says why), 2 usage error (a bad argument, named)")


def register(subparsers: Any) -> None:
    """``vigil alert ...`` (router/cli_alerts.py) and ``vigil incident ...``
    (router/cli_incidents.py); the router client and the output helpers are here."""
    from router import cli_alerts, cli_incidents
    from vigil.contain.cli import register as register_containment

    cli_alerts.register(subparsers)
    isub = cli_incidents.register(subparsers)
    register_containment(isub, common)   # contain, release, approve, containments (#12)
    from vigil.investigate.cli import register_incident  # logs, traffic, integrity, evidence
    register_incident(isub, common)


def _stack_token() -> str | None:
    """The token `vigil up` generated, so the CLI works against the local stack as is."""
    from vigil.stack.plan import default_layout

    try:
        return default_layout().token_file.read_text().strip() or None
    except OSError:
        return None


class RouterClient:
    """The router API over vigil.core.httpclient, bearer token attached; used by these commands,
    ``vigil status`` and the test stacks. Errors are VigilErrors that quote the router."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.headers = {"Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> Any:
        if not self.url.startswith(("http://", "https://")):
            raise VigilError("--url must be an http:// or https:// URL")
        try:
            _, raw = httpclient.request(self.url + path, method=method, body=body,
                                        headers=self.headers, timeout=self.timeout)
        except httpclient.HttpError as exc:
            if exc.status is None:
                raise VigilError(f"cannot reach the router at {self.url}: {exc.reason}"
                                 ) from None
            try:
                message = json.loads(exc.body).get("error", exc.reason)
            except ValueError:
                message = exc.reason
            raise VigilError(f"router answered {exc.status}: {message}") from None
        return json.loads(raw)

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self.call("POST", path, body)


def _token(args: argparse.Namespace) -> str | None:
    path = getattr(args, "token_file", None)
    if args.token or not path:
        return args.token or os.environ.get("VIGIL_ROUTER_TOKEN") or _stack_token()
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError as exc:   # the message names the file, never its content
        raise VigilError(f"--token-file: cannot read {path}: {exc.strerror}") from None


def call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    return RouterClient(args.url, _token(args)).call(method, path, body)


def actor(args: argparse.Namespace, *, ask: bool = True) -> str:
    """Who this command acts as: ``--who`` if given; else, with a personal token, its user
    (``GET /api/v1/whoami``: the router would refuse another name); else $USER, which the
    shared token lets the router take on trust. ``ask=False``: don't call the router (a dry
    run). Remembered in ``args.who``."""
    if args.who:
        return str(args.who)
    user = None
    if ask:
        try:
            user = call(args, "GET", "/api/v1/whoami").get("user")
        except VigilError:
            user = None   # an older router: the call that follows says what is wrong, if any
    args.who = user or os.environ.get("USER", "cli")
    return str(args.who)


def emit(args: argparse.Namespace, doc: Any, lines: list[str]) -> int:
    """``--json``: the document as the router answered it; else ``lines`` for people."""
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print("\n".join(lines))
    return 0


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """Columns padded to their widest cell (the last one left ragged)."""
    cells = [[("" if c is None else str(c)) for c in row] for row in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return ["  ".join(c.ljust(w) if i < len(header) - 1 else c
                      for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in cells]


def when(value: Any) -> str:
    """An ISO timestamp as ``2026-11-30 05:14:49Z`` (UTC, to the second); '' for None."""
    if not value:
        return ""
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
