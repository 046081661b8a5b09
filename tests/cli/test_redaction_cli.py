"""No database password reaches what a command prints, whatever its shape (issue 14), the commands
run in process: an unreachable server's driver error, and a live server's own error. The
redaction itself is tests/unit/test_redaction.py."""

from __future__ import annotations

import pytest

from tests.support.support import Cli
from tests.unit.test_redaction import AWKWARD, KEYWORD_DSNS, spellings


# --database-url overrides the database under test: one engine is enough.
@pytest.mark.parametrize("engine", ["sqlite"])
@pytest.mark.parametrize(("url", "password"), AWKWARD + KEYWORD_DSNS)
@pytest.mark.parametrize(
    "command",
    [
        ("status",),
        ("tokens", "list"),
        ("refresh-tokens",),
        ("tokens", "get", "--user", "u", "--platform", "github"),
        ("tokens", "disconnect", "--user", "u", "--platform", "github"),
        ("users", "erase", "u"),
        ("data", "prune", "--deleted-before", "30d"),
    ],
)
def test_no_command_prints_the_password(
    run_cli: Cli, url: str, password: str, command: tuple[str, ...], engine: str
) -> None:
    """Nothing listens on port 1: the driver's error is all there is to print."""
    result = run_cli("--database-url", url, *command)
    assert result.code in (2, 3), result.out
    document = result.json
    assert document["success"] is False and document["timestamp"]
    for secret in spellings(url, password):
        assert secret not in result.out and secret not in result.err
    if "=" in url.split("?")[0]:  # a keyword DSN: refused, not echoed
        assert result.code == 2 and "keyword connection string" in document["error"]["message"]


@pytest.mark.parametrize("engine", ["postgres"])
def test_a_wrong_password_at_a_live_server_is_not_printed(
    run_cli: Cli, postgres_url: str, engine: str
) -> None:
    """The server answers (it trusts every login here), so the password travels and comes back in
    nothing: a database name that does not exist makes the server's own error the message."""
    url = postgres_url.replace("postgres@", "postgres:pw%40with@at@").rsplit("/", 1)[0]
    result = run_cli("--database-url", url + "/no_such_db", "status")
    assert result.code == 3
    assert "no_such_db" in result.json["error"]["message"]
    for secret in ("pw@with@at", "pw%40with@at", "pw%40with", "with@at"):
        assert secret not in result.out + result.err
