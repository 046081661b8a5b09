"""stdout: one JSON document a run, written by the functions here and nowhere else.

Imported by the CLI at start-up, so it holds nothing heavy: `tokensync --version` stays fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import TextIO

from tokensync.errors import TokensyncError

Document = dict[str, object]


def emit(document: Mapping[str, object], stream: TextIO | None = None) -> None:
    """Write one JSON document to stdout: the only thing tokensync writes there."""
    out = stream or sys.stdout
    indent = 2 if out.isatty() else None
    out.write(json.dumps(document, indent=indent, ensure_ascii=False) + "\n")
    out.flush()


def emit_array(items: Iterable[Mapping[str, object]], stream: TextIO | None = None) -> None:
    """Write a JSON array an element at a time, so a long listing never sits in memory."""
    out = stream or sys.stdout
    out.write("[")
    for index, item in enumerate(items):
        out.write(("," if index else "") + "\n" + json.dumps(item, ensure_ascii=False))
    out.write("\n]\n")
    out.flush()


def emit_lines(items: Iterable[Mapping[str, object]], stream: TextIO | None = None) -> None:
    """Write JSON Lines, a line per item as it comes (`events list`)."""
    out = stream or sys.stdout
    for item in items:
        out.write(json.dumps(item, ensure_ascii=False) + "\n")
    out.flush()


def error_document(error: TokensyncError) -> Document:
    """The document of a command that failed as a whole."""
    return {"success": False, "error": error_body(error.code, error.message)}


def error_body(code: str, message: str | None) -> dict[str, str]:
    """An error object of a document: its code and message."""
    return {"code": code, "message": message or ""}
