"""The console script (`tokensync`, `python -m tokensync`): every command registered, usage errors
and signals made documents too, and a quick exit."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from typing import TYPE_CHECKING, NoReturn

import typer

from tokensync import interrupts
from tokensync.cli import (  # noqa: F401 (registers the commands)
    api,
    data,
    db,
    doctor,
    events,
    jobs,
    keys,
    revocations,
    status,
    tokens,
    users,
)
from tokensync.cli.app import app
from tokensync.cli.options import hoist_global_options
from tokensync.errors import EXIT_FAILURES, EXIT_USAGE, Interrupted
from tokensync.output import ending
from tokensync.output.ending import exit_with, stdout_failed
from tokensync.output.stdout import Document, failure_document, interrupted_document

# Each command imports the rest of what it needs when it runs: `tokensync --version` stays fast.
if TYPE_CHECKING:
    from tokensync.output.stdout import Document


def main(argv: list[str] | None = None) -> NoReturn:
    """The console script: usage errors too end as a JSON document and exit 2; SIGTERM and
    SIGINT end a command that is not a job as one too, with 143 or 130."""
    command = typer.main.get_command(app)
    args = hoist_global_options(command, sys.argv[1:] if argv is None else argv)
    ending.begin()
    with interrupts.raising_on_signals():
        try:
            code = command.main(args=args, prog_name="tokensync", standalone_mode=False)
        except typer.Exit as done:  # raised outside a command's own handling (the document
            code = done.exit_code  # was printed already)
        except Interrupted as exc:  # before a command began, or after its guard
            _last_words(interrupted_document(exc), exc.exit_code)
        except typer.Abort:
            _last_words(failure_document("aborted", "aborted"), 130)
        except typer.TyperException as exc:  # click's usage errors, as typer ships them
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            if hasattr(exc, "show") and not ending.is_quiet():
                with interrupts.deferred():
                    exc.show()
            context = getattr(exc, "ctx", None)
            name = context.command.name if context is not None and context.command else None
            code = getattr(exc, "exit_code", EXIT_USAGE) or EXIT_USAGE
            _last_words(failure_document("usage_error", message, name), code)
    sys.exit(code if isinstance(code, int) else 0)


def _last_words(document: Document, code: int) -> NoReturn:
    try:
        exit_with(document, code)
    except typer.Exit as done:
        sys.exit(done.exit_code)


def run() -> NoReturn:
    """`tokensync` and `python -m tokensync`: main(), then leave at once.

    Tearing down every imported module (aiohttp, psycopg, httpx, ...) cost about 60 ms at each
    exit, a fifth of a run with nothing to do. By the time main() ends, the database, the HTTP
    client and every file are closed and the worker threads joined; only the standard streams and
    logging's handlers hold buffers, and they are flushed here.
    """
    from tokensync.cli.streams import ensure_standard_streams

    closed = ensure_standard_streams()
    code: object = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    if not isinstance(code, int):  # sys.exit("message") semantics
        if code is not None:
            sys.stderr.write(f"{code}\n")
        code = 0 if code is None else 1
    if 1 in closed:  # `>&-`: what was written went to /dev/null, so the output is lost
        code = stdout_failed(OSError(errno.EBADF, "stdout was closed"), code)
    import logging

    logging.shutdown()
    try:
        sys.stdout.flush()
    except OSError as exc:  # what a command wrote bare (--version) to a full or closed stdout
        code = stdout_failed(exc, code)
    except ValueError:  # closed
        code = code or EXIT_FAILURES
    with contextlib.suppress(OSError, ValueError):  # nowhere left to say it
        sys.stderr.flush()
    os._exit(code)
