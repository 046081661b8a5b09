"""stdout: one JSON document a run, written by the functions here and nowhere else.

Imported by the CLI at start-up, so it holds nothing heavy: `tokensync --version` stays fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TextIO

from tokensync.errors import Concluded, Interrupted, TokensyncError
from tokensync.times import iso

Document = dict[str, object]
# What a command prints, and the code it exits with.
Printed = tuple[Document, int]


def printed(document: Document, result: Concluded) -> Printed:
    """A command's document and the exit code its result says (the one exit-code protocol)."""
    return document, result.exit_code


def emit(document: Mapping[str, object], stream: TextIO | None = None) -> None:
    """Write one JSON document to stdout: the only thing tokensync writes there."""
    out = stream or sys.stdout
    indent = 2 if out.isatty() else None
    out.write(json.dumps(document, indent=indent, ensure_ascii=False) + "\n")
    out.flush()


def error_document(error: TokensyncError, command: str | None = None) -> Document:
    """The document of a command that failed as a whole: dated, and a job's with its cronType."""
    return failure_document(error.code, error.message, command)


def emit_lines(items: Iterable[Mapping[str, object]], stream: TextIO | None = None) -> None:
    """Write JSON Lines, a line per item as it comes (`events list`)."""
    out = stream or sys.stdout
    for item in items:
        out.write(json.dumps(item, ensure_ascii=False) + "\n")
    out.flush()


def interrupted_document(signal: Interrupted, command: str | None = None) -> Document:
    """The document of a command that SIGTERM or SIGINT stopped before it finished."""
    message = f"stopped by {signal.signal_name}"
    if command == "import":
        message += " before the import was committed: nothing was imported"
    return failure_document("interrupted", message, command)


def failure_document(code: str, message: str, command: str | None = None) -> Document:
    """{success: false, [cronType], timestamp, error}: so a log of them can be dated, and read
    by the same jq filter as the command's own documents."""
    from tokensync.runtime.job_kinds import JOB_KINDS

    doc: Document = {"success": False}
    # A job's error document carries its cronType too.
    for kind in JOB_KINDS:
        if command == kind.command:
            doc["cronType"] = kind.cron_type
    doc["timestamp"] = iso(datetime.now(UTC))
    doc["error"] = error_body(code, message)
    return doc


def error_body(code: str, message: str | None) -> dict[str, str]:
    """An error object of a document: its code and message."""
    return {"code": code, "message": message or ""}
