"""The ``vigil`` command: one entry point, subcommands grouped by noun.

Each noun lives in the package that owns it and exposes
``register(subparsers)``; a handler returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from psycopg import errors

from vigil import __version__
from vigil.core.errors import ConfigError, VigilError
from vigil.core.secrets import scrub

# (module, what it adds). Order is the order --help lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "vigil.schema.cli",      # vigil db install|status|grants|verify
    "vigil.demo.cli",        # vigil demo setup|load|inject|heal
    "vigil.checks.cli",      # vigil check (daily health), security, system/data verify
    "vigil.checks.phi_cli",  # vigil phi metrics
    "vigil.audit.cli",       # vigil audit seal|verify|buffer-status|async-health
    "exporter.cli",          # vigil exporter
    "router.cli",            # vigil router [migrate]
    "router.client_cli",     # vigil alert ..., vigil incident ...
    "router.oncall.cli",     # vigil oncall now|next
    "vigil.stack.cli",       # vigil up|down|status
    "vigil.sink.cli",        # vigil sink
    "vigil.report.cli",      # vigil report daily|attest|list|verify|schedule
    "vigil.metrics.cli",     # vigil metrics verify|collect
    "vigil.security.cli",    # vigil security test
    "vigil.recovery.cli",    # vigil recovery verify|report
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil",
        description=(
            "Security and performance monitoring for a multi-tenant PostgreSQL that holds PHI. "
            "Installs the monitoring schema, exports Prometheus metrics, routes alerts through "
            "the P1-P4 escalation matrix and runs the operations runbook's commands."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vigil {__version__}")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"], help="log verbosity")
    parser.add_argument("--log-format", default="text", choices=["text", "json"],
                        help="log line format (json for log shippers)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # that part of vigil is not built yet
            raise
        module.register(sub)
    _remember_parsers(parser)
    return parser


_PARSER_KEY = "_vigil_parser"


def _remember_parsers(parser: argparse.ArgumentParser) -> None:
    """Tag every (sub)command's namespace with its own parser, so a typo in a subcommand's
    flag is reported with that subcommand's usage. argparse hands a subparser's unknown
    arguments up to the top-level parser, whose error shows only `vigil [-h] COMMAND ...`
    (`vigil up --fsat`)."""
    for action in parser._actions:  # argparse has no public walk of its subparsers
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                child.set_defaults(**{_PARSER_KEY: child})
                _remember_parsers(child)


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # exits 2 with the usage of the (sub)command the typo was given to
        words = list(sys.argv[1:] if argv is None else argv)
        before_command = (args.command in words and unknown[0] in words
                          and words.index(unknown[0]) < words.index(args.command))
        owner: argparse.ArgumentParser = (parser if before_command
                                          else getattr(args, _PARSER_KEY, parser))
        owner.error(f"unrecognized arguments: {' '.join(unknown)}")
    if hasattr(args, _PARSER_KEY):
        delattr(args, _PARSER_KEY)  # handlers (and --json dumps of args) never see it
    return args


def main(argv: Sequence[str] | None = None) -> int:
    from vigil.core import logs

    parser = build_parser()
    try:
        args = _parse(parser, argv)
        logs.setup(args.log_level, args.log_format)
        code: int = args.func(args)
        sys.stdout.flush()  # inside the try: a reader gone (| head) surfaces here, not at exit
    except BrokenPipeError:
        return _reader_gone()
    except ConfigError as exc:
        print(scrub(str(exc)), file=sys.stderr)
        return 1
    except VigilError as exc:
        print(f"vigil: {scrub(str(exc))}", file=sys.stderr)
        return 1
    except (errors.InvalidSchemaName, errors.UndefinedFunction, errors.UndefinedTable,
            errors.UndefinedColumn) as exc:
        # The command reached a database without vigil's schema, or with an older one than this
        # vigil: say what to do instead of a traceback. The SQLSTATE name, never the message
        # (it quotes the statement).
        print(f"vigil: the database has no vigil_monitor schema, or an older one than this vigil "
              f"({type(exc).__name__}): check --dsn names the monitored database, then run "
              f"`vigil db install` on it", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


def _reader_gone() -> int:
    """The reader of stdout went away (``vigil ... | head``): stop quietly, as Unix tools do.
    stdout now points at /dev/null, so the interpreter's final flush has nowhere to fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141  # 128 + SIGPIPE: what a shell reports for a tool killed by the closed pipe


if __name__ == "__main__":
    sys.exit(main())
