"""The ``semsearch`` command line.

Every command turns domain errors into a one-line message and a non-zero exit code;
tracebacks are for bugs only, and even then only with ``SEMSEARCH_DEBUG=1``.
"""
from __future__ import annotations

import os
import sys

import typer

from search.errors import InvalidInputError, SemsearchError, SourceError

from . import calibrate_cmd, eval_cmds, index_cmds, model_cmds, serve_cmd

app = typer.Typer(
    name="semsearch",
    help="Chinese-first semantic search for FAQ and knowledge bases.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
model_cmds.register(app)
eval_cmds.register(app)
index_cmds.register(app)
serve_cmd.register(app)
calibrate_cmd.register(app)


def _exit_code(exc: SemsearchError) -> int:
    return 2 if isinstance(exc, (InvalidInputError, SourceError)) else 1


def main() -> None:
    try:
        app(standalone_mode=True)
    except SemsearchError as exc:
        typer.secho(f"error: {exc.message}", fg="red", err=True)
        sys.exit(_exit_code(exc))
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: say so plainly, traceback on request
        if os.environ.get("SEMSEARCH_DEBUG"):
            raise
        typer.secho(f"internal error: {type(exc).__name__}: {exc} "
                    "(set SEMSEARCH_DEBUG=1 for a traceback)", fg="red", err=True)
        sys.exit(1)
