"""The ``semsearch`` command line.

Every command turns domain errors into a one-line message and a non-zero exit code;
tracebacks are for bugs only, and even then only with ``SEMSEARCH_DEBUG=1``.
"""
from __future__ import annotations

import os
import sys

import typer

try:  # typer >= 0.26 vendors click; older releases use click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    from click import exceptions as click_errors  # type: ignore[no-redef]  # the same module, elsewhere

from search.errors import InvalidInputError, NotFoundError, SemsearchError, SourceError

from . import (audit_cmd, calibrate_cmd, eval_cmds, index_cmds, insights_cmd, model_cmds,
               serve_cmd, testset_cmds, texts_cmds)

app = typer.Typer(
    name="semsearch",
    help="Chinese-first semantic search for FAQ and knowledge bases.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # help and FAQ text are shown as written: "[default: …]" stays
)
model_cmds.register(app)
eval_cmds.register(app)
index_cmds.register(app)
serve_cmd.register(app)
calibrate_cmd.register(app)
insights_cmd.register(app)
audit_cmd.register(app)
texts_cmds.register(app)
testset_cmds.register(app, eval_cmds.eval_app)


def _exit_code(exc: SemsearchError) -> int:
    """2 for what the caller got wrong (input, a file, an unknown name), 3 for a build
    the quality gate refused, 1 otherwise."""
    code = getattr(exc, "exit_code", None)
    if code:
        return int(code)
    return 2 if isinstance(exc, (InvalidInputError, SourceError, NotFoundError)) else 1


def _usage_error(exc: click_errors.UsageError) -> int:
    """One line, as every other error: what is wrong and where the help is."""
    if isinstance(exc, click_errors.NoArgsIsHelpError) and exc.ctx is not None:
        typer.echo(exc.ctx.get_help())
        return 2
    where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
    typer.secho(f"error: {exc.format_message()}{where}", fg="red", err=True)
    return 2


def main() -> None:
    code = _run()
    # Skip the interpreter's teardown: with torch loaded it takes 1.5 s on two cores, a
    # fifth of a one-shot `semsearch query`. Results and errors are flushed, and every
    # database write was committed by the transaction that made it.
    sys.stdout.flush()
    sys.stderr.flush()
    if "torch" in sys.modules:
        from search.store.db import dispose_all

        dispose_all()
        os._exit(code)
    sys.exit(code)


def _run() -> int:
    """Run the command; its exit code (errors are printed here, in one line)."""
    try:
        code = app(standalone_mode=False)
    except click_errors.UsageError as exc:
        return _usage_error(exc)
    except click_errors.ClickException as exc:  # a file option that cannot be opened, …
        typer.secho(f"error: {exc.format_message()}", fg="red", err=True)
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        return 130
    except SemsearchError as exc:
        typer.secho(f"error: {exc.message}", fg="red", err=True)
        return _exit_code(exc)
    except SystemExit as exc:  # a command that exits on its own
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:  # a bug: say so plainly, traceback on request
        if os.environ.get("SEMSEARCH_DEBUG"):
            raise
        typer.secho(f"internal error: {type(exc).__name__}: {exc} "
                    "(set SEMSEARCH_DEBUG=1 for a traceback)", fg="red", err=True)
        return 1
    return code if isinstance(code, int) else 0
