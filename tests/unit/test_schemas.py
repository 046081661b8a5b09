"""The JSON Schemas of src/tokensync/schemas/: each is a valid draft 2020-12 schema, closed at
every level, the hook of tests/support/contract.py picks the right one, the generated reference
pages are current, and the documents the docs show fit. That every schema describes what tokensync
really prints is tests/cli/test_schemas_session.py.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tests.support.contract import DOCUMENTS, ERROR, ContractBroken, check_output, validate
from tests.support.support import START
from tokensync import schemas
from tokensync.jobs.results import RefreshResult
from tokensync.oauth.revocation import Revocation
from tokensync.output.job_document import job_document
from tokensync.refresh.outcome import Outcome, Refreshed
from tokensync.store import Connection

DOCUMENT_SCHEMAS = sorted(set(schemas.names()) - {"common.json"})


def test_every_schema_is_a_valid_draft_2020_12_schema_with_its_id() -> None:
    for name in schemas.names():
        schema = schemas.load(name)
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", name
        assert schema["$id"] == schemas.BASE_URI + name


def open_objects(node: object, where: str = "") -> Iterator[str]:
    """Where an object schema lets an unnamed property through: anything but
    `additionalProperties: false`, or a map whose keys are constrained by `propertyNames`."""
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            extra = node.get("additionalProperties")
            if extra is not False and not (isinstance(extra, dict) and "propertyNames" in node):
                yield where or "(top)"
        for key, value in node.items():
            yield from open_objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from open_objects(value, f"{where}/{i}")


def test_every_object_of_every_schema_is_closed() -> None:
    for name in schemas.names():
        assert list(open_objects(schemas.load(name))) == [], name
    assert list(open_objects({"type": "object", "properties": {}})) == ["(top)"]


def test_the_hook_picks_the_schema_from_the_command_line_and_refuses_a_new_field() -> None:
    imported = {"success": True, "imported": 1, "inserted": 1, "updated": 0}
    argv = ["--database-url", "sqlite:///x.db", "-v", "tokens", "import"]
    assert check_output(argv, json.dumps(imported)) == ["tokens-import.json"]
    with pytest.raises(ContractBroken, match="'skipped' was unexpected"):
        check_output(argv, json.dumps({**imported, "skipped": 0}))
    with pytest.raises(ContractBroken, match="printed no document"):
        check_output(["status"], "")
    failed = {
        "success": False,
        "timestamp": "2026-11-28T14:07:30Z",
        "error": {"code": "no_database", "message": "no database"},
    }
    assert check_output(["status", "--format", "table"], json.dumps(failed)) == ["error.json"]
    assert check_output(["status", "--format", "table"], "platform  active\n") == []
    assert check_output(["keys", "generate"], "a-key\n") == []
    assert check_output(["tokens", "list", "--format", "jsonl"], "") == []
    with pytest.raises(ContractBroken):  # a time without its Z is no timestamp of ours
        validate({**failed, "timestamp": "2026-11-28T14:07:30"}, "error.json")


def test_the_generated_reference_pages_are_current() -> None:
    """docs/reference/cli.md and schemas.md say what the app and the schemas say (CI checks it
    too: `python scripts/reference.py --check`)."""
    from scripts import reference

    for path, text in reference.pages().items():
        assert path.read_text("utf-8") == text, f"{path} is stale: run scripts/reference.py"


def test_a_superseded_refresh_and_a_job_warning_fit_the_refresh_schema() -> None:
    """What no CLI test here can stage (a grant written while its older one is refreshed, a
    clock off the database's), rendered by the job document's own code."""
    conn = Connection(
        id=7, user_id="u1", platform="discord", access_token_enc="x", refresh_token_enc="y",
        token_type="Bearer", scope=None, expires_at=START, status="active",
        tokens_updated_at=START, last_refreshed_at=None, last_error_code=None,
        last_error_message=None, failure_count=0, next_attempt_at=None, lease_owner=None,
        lease_expires_at=None, last_sync_at=None, created_at=START, updated_at=START,
    )  # fmt: skip
    revoked = Revocation(True, endpoint="https://discord.com/api/oauth2/token/revoke")
    result = RefreshResult(run_id="r", started_at=START, spool_superseded=1, warnings=["clock"])
    result.count(Outcome(conn, Refreshed.SUPERSEDED, revocation=revoked), keep=True)
    gone = Revocation(False, already_invalid=True, reason="gone")
    result.count(Outcome(conn, Refreshed.SUPERSEDED, revocation=gone), keep=True)
    document = job_document(result)
    assert check_output(["refresh-tokens"], json.dumps(document)) == ["refresh-tokens.json"]
    assert document["tokensSuperseded"] == 2 and document["warnings"] == ["clock"]


def documents_shown(text: str) -> Iterator[object]:
    """The JSON values of a page's ```json blocks: each block whole, or each of its lines."""
    for block in text.split("```json\n")[1:]:
        body = block.split("```", 1)[0]
        try:
            yield json.loads(body)
        except ValueError:
            for line in body.splitlines():
                with contextlib.suppress(ValueError):
                    yield json.loads(line)


def test_every_document_the_docs_show_fits_a_schema() -> None:
    """The examples in README.md and docs/ are documents tokensync could print: each one with a
    `success` satisfies the schema of some command (or the error document's)."""
    root = Path(__file__).resolve().parents[2]
    pages = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    shown = 0
    for page in pages:
        for document in documents_shown(page.read_text("utf-8")):
            if isinstance(document, dict) and "success" in document:
                names = [*DOCUMENTS.values(), ERROR]
                try:
                    validate(document, *names)
                except ContractBroken as exc:
                    raise AssertionError(f"{page.relative_to(root)}: {exc}") from None
                shown += 1
    assert shown >= 7, "the docs show the documents of the main commands"
