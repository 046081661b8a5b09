"""How a command ends: its one document on stdout, or a line on stderr when stdout fails.

stdout may be full (`> /dev/full`), closed, or a pipe whose reader left (`| head`): the command
then says so on stderr in one line and exits nonzero, never with a traceback. A signal never
lands in the middle of the document (tokensync.interrupts).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import NoReturn

import typer

from tokensync import interrupts
from tokensync.errors import EXIT_FAILURES, Interrupted, TokensyncError, exit_code_for
from tokensync.output.stdout import emit


def warn(message: str) -> None:
    """One line on stderr; a stderr that is gone too is given up on silently."""
    try:
        sys.stderr.write(f"tokensync: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def exit_with(document: Mapping[str, object], code: int) -> NoReturn:
    """Print the command's document and exit with `code` (at least 1 if stdout failed); a
    failure is also said in one line on stderr, for the person at the terminal (unless quiet)."""
    with interrupts.deferred():
        if code and not _said.quiet:
            warn(failure_line(document, code))
        try:
            emit(document)
        except OSError as exc:
            code = stdout_failed(exc, code)
    raise typer.Exit(code)


def failure_line(document: Mapping[str, object], code: int) -> str:
    """What a failed command says on stderr: its error's code and message, or (a run whose
    items failed) where to read which."""
    error = document.get("error")
    if isinstance(error, Mapping):
        return f"{error.get('code')}: {error.get('message')}"
    return f"failed (exit {code}): the JSON document on stdout says which items failed and why"


class _Said:
    stdout_failed = False
    quiet = False


_said = _Said()


def begin() -> None:
    """A new invocation: nothing said yet (main() may run many times in one process, in tests)."""
    _said.stdout_failed = False
    _said.quiet = False


def set_quiet(quiet: bool) -> None:
    """--quiet: a failure is said by the document and the exit code only, not on stderr."""
    _said.quiet = quiet


def is_quiet() -> bool:
    """Whether --quiet was given."""
    return _said.quiet


def stdout_failed(exc: OSError, code: int) -> int:
    """Say (once: the bytes still buffered fail again at the last flush) that stdout could not be
    written; the exit code becomes at least 1."""
    if not _said.stdout_failed:
        _said.stdout_failed = True
        warn(f"cannot write to stdout: {exc.strerror or type(exc).__name__}; the output is lost")
    return code or EXIT_FAILURES


def cut_short(written: int, cause: BaseException, what: str) -> int:
    """Say on stderr that a listing stopped after `written` rows; its exit code."""
    if isinstance(cause, TokensyncError):
        reason, code = f"{cause.code}: {cause.message}", exit_code_for(cause)
    elif isinstance(cause, Interrupted):
        reason, code = f"stopped by {cause.signal_name}", cause.exit_code
    else:
        reason, code = f"unexpected {type(cause).__name__}", EXIT_FAILURES
    warn(f"{what} was cut short after {written} row(s) ({reason}); the output is incomplete")
    return code
