"""`tokens list`: connections streamed to stdout as one JSON array, as JSON Lines, or as tables
for a person (one a page of rows).

A page of rows is written as it is read, so memory stays flat however many connections there
are. When reading fails midway (the database goes away, a signal), the output is still
well-formed (the array is closed) and the failure is raised as Cut, for the command to say on
stderr and in its exit code that the listing is incomplete.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Literal, TextIO, get_args

from tokensync import interrupts
from tokensync.jsoncodec import dumps
from tokensync.output.documents import connection_document
from tokensync.store import Connection

Format = Literal["json", "jsonl", "table"]
FORMATS: tuple[Format, ...] = get_args(Format)
# Rows written per write() call: one call per page rather than per row.
_CHUNK = 500


class Cut(Exception):
    """The listing stopped before its end; `written` rows were written, well-formed."""

    def __init__(self, written: int, cause: BaseException) -> None:
        super().__init__(written)
        self.written, self.cause = written, cause


class _WriteFailed(Exception):
    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.error = error


def write_listing(connections: Iterable[Connection], fmt: Format, out: TextIO) -> int:
    """Write every connection; return how many. A failure of `connections` (a signal included)
    raises Cut once what was read is written and the output closed; a failure to write (stdout
    full or gone) raises the OSError as it is, since nothing more can be written."""
    array = fmt == "json"
    written = 0
    pending: list[dict[str, object]] = []

    def flush() -> None:
        nonlocal written, pending
        if pending:
            if fmt == "table":
                from tokensync.output.table import connections_table  # rich, only when asked

                text = connections_table(pending)
            else:
                text = _lines(pending, array, first=written == 0)
            _write(out, text)
            written, pending = written + len(pending), []

    try:
        _write(out, "[" if array else "")
        for conn in connections:
            pending.append(connection_document(conn))
            if len(pending) == _CHUNK:
                flush()
        flush()
    except _WriteFailed as failed:
        raise failed.error from None
    except BaseException as exc:  # Interrupted too: write what was read, close, report it
        with contextlib.suppress(_WriteFailed):
            flush()
            _write_closing(out, array, written)
        raise Cut(written, exc) from None
    try:
        _write_closing(out, array, written)
    except _WriteFailed as failed:
        raise failed.error from None
    return written


def _write(out: TextIO, text: str) -> None:
    """Write whole: a signal that arrives meanwhile is raised after the write, not inside it."""
    with interrupts.deferred(resume=True):
        try:
            out.write(text)
            out.flush()
        except OSError as exc:
            raise _WriteFailed(exc) from None


def _write_closing(out: TextIO, array: bool, written: int) -> None:
    try:
        with interrupts.deferred():
            out.write(_closing(array, written))
            out.flush()
    except OSError as exc:
        raise _WriteFailed(exc) from None


def _lines(chunk: list[dict[str, object]], array: bool, *, first: bool) -> str:
    if not array:
        return "".join(dumps(doc) + "\n" for doc in chunk)
    text = ",\n".join(dumps(doc) for doc in chunk)
    return ("\n" if first else ",\n") + text


def _closing(array: bool, written: int) -> str:
    if not array:
        return ""
    return "\n]\n" if written else "]\n"


def peeked(connections: Iterator[Connection]) -> Iterator[Connection]:
    """The same connections, the first one read now: a failure before any output is then the
    command's error document, not a listing cut at its start."""
    first = next(connections, None)
    if first is None:
        return iter(())
    return _chain(first, connections)


def _chain(first: Connection, rest: Iterator[Connection]) -> Iterator[Connection]:
    yield first
    yield from rest
