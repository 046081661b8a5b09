"""`tokens list` pages by id (issue 15): --status, --limit, --after-id and --format jsonl, on both
engines; the pages of one status read its own index."""

from __future__ import annotations

import json

import pytest

from tests.support.support import Cli, run_sql, seed


@pytest.fixture
def seeded(cli: Cli, db_url: str) -> None:
    """Ten connections u0..u9 (ids 1..10): ids 3, 6 and 9 (u2, u5, u8) need re-authorisation,
    u9 is disabled; odd users are on github."""
    seed(cli, *[(f"u{i}", "github" if i % 2 else "spotify") for i in range(10)])
    run_sql(db_url, "UPDATE connections SET status = 'needs_reauth' WHERE id % 3 = 0")
    run_sql(db_url, "UPDATE connections SET status = 'disabled' WHERE user_id = 'u9'")


def users(result_out: str, fmt: str = "json") -> list[str]:
    if fmt == "json":
        return [r["userId"] for r in json.loads(result_out)]
    return [json.loads(line)["userId"] for line in result_out.splitlines()]


def test_one_status(cli: Cli, seeded: None) -> None:
    result = cli("tokens", "list", "--status", "needs_reauth")
    assert result.code == 0
    assert users(result.out) == ["u2", "u5", "u8"]


def test_statuses_platforms_and_users_combine(cli: Cli, seeded: None) -> None:
    both = cli("tokens", "list", "--status", "active", "--status", "disabled")
    assert users(both.out) == ["u0", "u1", "u3", "u4", "u6", "u7", "u9"]
    github = cli("tokens", "list", "--status", "active", "--platform", "github")
    assert users(github.out) == ["u1", "u3", "u7"]
    some = cli("tokens", "list", "--status", "needs_reauth", "--user", "u5", "--user", "u0")
    assert users(some.out) == ["u5"]


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_keyset_pages_cover_everything_once(cli: Cli, seeded: None, fmt: str) -> None:
    seen: list[str] = []
    after = 0
    while True:
        page = cli("tokens", "list", "--limit", "3", "--after-id", str(after), "--format", fmt)
        assert page.code == 0
        rows = (
            json.loads(page.out)
            if fmt == "json"
            else [json.loads(line) for line in page.out.splitlines()]
        )
        if not rows:
            break
        assert len(rows) <= 3
        seen += [r["userId"] for r in rows]
        after = rows[-1]["id"]
    assert seen == [f"u{i}" for i in range(10)]


def test_pages_of_one_status(cli: Cli, seeded: None) -> None:
    first = cli("tokens", "list", "--status", "active", "--limit", "2")
    assert users(first.out) == ["u0", "u1"]
    last_id = json.loads(first.out)[-1]["id"]
    rest = cli("tokens", "list", "--status", "active", "--after-id", str(last_id))
    assert users(rest.out) == ["u3", "u4", "u6", "u7"]


def test_jsonl_is_one_connection_a_line(cli: Cli, seeded: None) -> None:
    result = cli("tokens", "list", "--format", "jsonl", "--limit", "4")
    lines = result.out.splitlines()
    assert len(lines) == 4 and all(json.loads(line)["id"] for line in lines)
    empty = cli("tokens", "list", "--format", "jsonl", "--after-id", "1000")
    assert empty.code == 0 and empty.out == ""
    assert cli("tokens", "list", "--after-id", "1000").out == "[]\n"


def test_a_listing_holds_no_secret(cli: Cli, seeded: None, key: str) -> None:
    for fmt in ("json", "jsonl"):
        out = cli("tokens", "list", "--format", fmt).out
        assert "AT-" not in out and "RT-" not in out and key not in out
        assert "access_token" not in out.lower() and "gAAAA" not in out
