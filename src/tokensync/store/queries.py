"""The store's SQL: the named queries of queries.sql, with the pieces they include filled in.

queries.sql describes its format at its top. Its own fragments are shared by both engines; each
engine supplies the few dialect pieces (list membership, row locking, a batch's item rows) and
expands every query once, at start-up. Values only ever travel as :name parameters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

_HEADER = re.compile(r"--\s*(name|fragment):(.*)")
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_INCLUDE = re.compile(r"\{([a-z][a-z0-9_]*)\}")


class QueryFileError(ValueError):
    """A queries.sql that cannot be used: the message names the line at fault."""


@dataclass(frozen=True)
class _Block:
    kind: str  # "query" or "fragment"
    name: str
    line: int
    sql: str


class QueryFile:
    """The named queries and fragments of one text in the queries.sql format."""

    def __init__(self, text: str, source: str = "queries.sql") -> None:
        self.source = source
        self._blocks: dict[str, _Block] = {}
        for block in _blocks(text, source):
            if block.name in self._blocks:
                first = self._blocks[block.name].line
                raise QueryFileError(
                    f"{source} line {block.line}: the name {block.name!r} is taken "
                    f"(line {first}); queries and fragments share one namespace"
                )
            if not block.sql:
                raise QueryFileError(
                    f"{source} line {block.line}: {block.kind} {block.name!r} is empty"
                )
            self._blocks[block.name] = block
        included = {ref for b in self._blocks.values() for ref in _INCLUDE.findall(b.sql)}
        for fragment in self.fragments:
            if fragment not in included:
                raise QueryFileError(self._at(fragment, "is included by nothing"))

    @property
    def names(self) -> list[str]:
        """The query names, in the order of the file."""
        return [b.name for b in self._blocks.values() if b.kind == "query"]

    @property
    def fragments(self) -> list[str]:
        """The fragment names, in the order of the file."""
        return [b.name for b in self._blocks.values() if b.kind == "fragment"]

    def expand(self, dialect: Mapping[str, str]) -> dict[str, str]:
        """Every query with its fragments and the engine's dialect pieces included."""
        for name in self.fragments:
            if name in dialect:
                raise QueryFileError(self._at(name, "is also a piece the engine supplies"))
        return {name: self._include(name, dialect, (name,)) for name in self.names}

    def _include(self, name: str, dialect: Mapping[str, str], chain: tuple[str, ...]) -> str:
        def piece(match: re.Match[str]) -> str:
            ref = match.group(1)
            block = self._blocks.get(ref)
            if block is not None and block.kind == "fragment":
                if ref in chain:
                    raise QueryFileError(self._at(ref, "includes itself"))
                return self._include(ref, dialect, (*chain, ref))
            if ref in dialect:
                return dialect[ref]
            known = " (a query: only fragments can be included)" if block else ""
            raise QueryFileError(self._at(name, f"includes {{{ref}}}, an unknown fragment{known}"))

        return _INCLUDE.sub(piece, self._blocks[name].sql)

    def _at(self, name: str, problem: str) -> str:
        block = self._blocks[name]
        return f"{self.source} line {block.line}: {block.kind} {name!r} {problem}"


def _blocks(text: str, source: str) -> list[_Block]:
    """Split a text at its header lines; comment lines are dropped from the SQL."""
    found: list[_Block] = []
    kind, name, start = "", "", 0
    body: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = _HEADER.fullmatch(stripped)
        if header:
            if kind:
                found.append(_Block(kind, name, start, "\n".join(body).strip()))
            kind = "query" if header.group(1) == "name" else "fragment"
            name, start, body = header.group(2).strip(), number, []
            if not _NAME.fullmatch(name):
                raise QueryFileError(f"{source} line {number}: {name!r} is not a name")
        elif stripped.startswith("--") or not stripped:
            continue
        elif not kind:
            raise QueryFileError(f"{source} line {number}: SQL before the first -- name: line")
        else:
            body.append(line.rstrip())
    if kind:
        found.append(_Block(kind, name, start, "\n".join(body).strip()))
    return found


QUERIES = QueryFile(
    resources.files("tokensync.store").joinpath("queries.sql").read_text(encoding="utf-8")
)
