"""The contract check: every document tokensync prints in a test is validated against its JSON
Schema (src/tokensync/schemas/), picked from the command line that printed it.

`check_output(argv, out)` is called wherever the suite captures tokensync's stdout (the in-process
runner in tests/conftest.py, tests/support/processes.py); a document that its schema refuses fails
the test that printed it. Text outputs (`--help`, `--version`, `keys generate`, `--format table`)
are left alone, unless they are an error document.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from tokensync import schemas

# The schema of each command's document (a document that fails as a whole: error.json).
DOCUMENTS = {
    "refresh-tokens": "refresh-tokens.json",
    "poll-platforms": "poll-platforms.json",
    "status": "status.json",
    "tokens import": "tokens-import.json",
    "tokens list": "tokens-list.json",
    "tokens get": "tokens-get.json",
    "tokens disconnect": "tokens-disconnect.json",
    "users erase": "users-erase.json",
    "revocations ingest": "revocations-ingest.json",
    "db migrate": "db-migrate.json",
    "data prune": "data-prune.json",
    "data changes": "data-changes.json",
    "keys rotate": "keys-rotate.json",
    "doctor": "doctor.json",
    "events deliver": "events-deliver.json",
    "events replay": "events-replay.json",
}
# Commands whose stdout is a platform's own JSON answer on success (and ours on failure).
PLATFORM_BODY = {"api"}
# Commands that print JSON Lines: the schema of each line.
LINES = {
    "events list": "event.json",
    "tokens list": "connection.json",
    "data changes": "data-change.json",
}
TEXT = {"keys generate"}
ERROR = "error.json"

_GLOBAL_WITH_VALUE = ("--database-url", "--config")
_GROUPS = {"tokens", "users", "keys", "db", "data", "events", "revocations"}


class ContractBroken(AssertionError):
    """tokensync printed a document that its schema refuses."""


@cache
def validator(name: str) -> Draft202012Validator:
    """A validator of one schema file, with every other file resolvable by its $id."""
    loaded = [schemas.load(n) for n in schemas.names()]
    registry: Registry[Any] = Registry().with_resources(
        (str(s["$id"]), Resource.from_contents(s)) for s in loaded
    )
    return Draft202012Validator(schemas.load(name), registry=registry)


def problems(document: object, name: str) -> list[str]:
    """What the schema `name` says is wrong with the document (nothing: valid)."""
    errors = sorted(validator(name).iter_errors(document), key=lambda e: list(e.absolute_path))
    found = [e for error in errors for e in _closest(error)]
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in found]


def _closest(error: ValidationError) -> list[ValidationError]:
    """An error; for a oneOf or anyOf that no branch satisfied, the errors of the branch that
    came closest (the fewest), which say more than "not valid under any"."""
    if not error.context:
        return [error]
    branches: dict[object, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    return [e for sub in min(branches.values(), key=len) for e in _closest(sub)]


def validate(document: object, *names: str) -> str:
    """Check a document against the first of `names` it satisfies; return that schema's name.
    Raise ContractBroken, with what each schema said, when none does."""
    said: dict[str, list[str]] = {}
    for name in names:
        found = problems(document, name)
        if not found:
            return name
        said[name] = found
    lines = [f"{name}: {p}" for name, found in said.items() for p in found[:10]]
    raise ContractBroken(
        "a document of tokensync that its schema refuses:\n  "
        + "\n  ".join(lines)
        + f"\ndocument: {json.dumps(document)[:2000]}"
    )


def command_of(argv: Sequence[str]) -> tuple[str, list[str]] | None:
    """The command (`status`, `tokens list`, ...) and its own arguments, past the global
    options; None when there is none."""
    args, i = list(argv), 0
    while i < len(args):
        arg = args[i]
        if arg in _GLOBAL_WITH_VALUE:
            i += 2
        elif _is_flag(arg):
            i += 1
        else:
            break
    rest = args[i:]
    if not rest:
        return None
    if rest[0] in _GROUPS and len(rest) > 1 and not rest[1].startswith("-"):
        return f"{rest[0]} {rest[1]}", rest[2:]
    return rest[0], rest[1:]


def _is_flag(arg: str) -> bool:
    """A global option that takes no value of its own argument (-v, -vv, -q, --database-url=URL)."""
    with_value = arg.startswith(tuple(f"{o}=" for o in _GLOBAL_WITH_VALUE))
    counted = arg.startswith("-v") and set(arg[1:]) == {"v"}
    return with_value or counted or arg in ("--verbose", "-q", "--quiet")


def _format(args: Sequence[str]) -> str | None:
    for i, arg in enumerate(args):
        if arg == "--format" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--format="):
            return arg.split("=", 1)[1]
    return None


def check_output(argv: Sequence[str], out: str) -> list[str]:
    """Validate what tokensync printed on stdout for this command line; return the schema names
    used (one per document or line). Raise ContractBroken when a document breaks its schema."""
    if any(a in ("--help", "--version") for a in argv):
        return []
    found = command_of(argv)
    command, args = found if found is not None else ("", [])
    fmt = _format(args)
    if command in PLATFORM_BODY:
        # The platform's own answer (not a document of ours), or our error document.
        printed = json.loads(out)
        failed = isinstance(printed, dict) and printed.get("success") is False
        return [validate(printed, ERROR)] if failed and "error" in printed else []
    if command in TEXT or fmt == "table" or command not in {*DOCUMENTS, *LINES}:
        # Text, or no command of ours: only a (usage) error document is JSON here.
        return [validate(json.loads(out), ERROR)] if out.lstrip().startswith("{") else []
    if command in LINES and (command == "events list" or fmt == "jsonl"):
        lines = [json.loads(line) for line in out.splitlines() if line.strip()]
        if len(lines) == 1 and isinstance(lines[0], dict) and lines[0].get("success") is False:
            return [validate(lines[0], ERROR)]
        return [validate(line, LINES[command]) for line in lines]
    if not out.strip():
        raise ContractBroken(f"tokensync {command} printed no document")
    return [validate(json.loads(out), DOCUMENTS[command], ERROR)]
