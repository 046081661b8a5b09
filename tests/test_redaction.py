"""No database password reaches a message, whatever its shape (issue 14): one redaction function
for anything built from a URL or a driver error, and PostgreSQL URLs split by us, not by libpq."""

from __future__ import annotations

import pytest

from tests.support import Cli
from tokensync.errors import ConfigError
from tokensync.redaction import redact, split_userinfo, url_secrets
from tokensync.store.postgres import connection_params

# (URL as a person writes it, the password it means)
AWKWARD = [
    ("postgresql://app:s3cret%@127.0.0.1:1/app", "s3cret%"),  # a bare %, as in the issue
    ("postgresql://app:p%40ss%2Fw%25rd@127.0.0.1:1/app", "p@ss/w%rd"),  # percent-encoded
    ("postgresql://app:s3 cr et@127.0.0.1:1/app", "s3 cr et"),  # spaces
    ("postgresql://app:p@ss@w@rd@127.0.0.1:1/app", "p@ss@w@rd"),  # unencoded @, three of them
    ("postgresql://app:pa:ss@127.0.0.1:1/app", "pa:ss"),  # a colon in it
    ("postgres://app:%E2%82%ACuro@127.0.0.1:1/app", "€uro"),  # encoded UTF-8
    ("postgresql://127.0.0.1:1/app?password=qp-s3cret&sslmode=disable", "qp-s3cret"),
]
KEYWORD_DSNS = [
    ("host=127.0.0.1 port=1 user=app password=kw-s3cret dbname=app", "kw-s3cret"),
    ("host=127.0.0.1 password='sp ace s3cret' dbname=app", "sp ace s3cret"),
    ("host=127.0.0.1 password = eq-s3cret", "eq-s3cret"),
]


def spellings(url: str, password: str) -> set[str]:
    """The password as it means, and as the URL writes it (if it differs)."""
    return {password, *url_secrets(url)}


@pytest.mark.parametrize(("url", "password"), AWKWARD + KEYWORD_DSNS)
def test_every_spelling_of_the_password_is_masked(url: str, password: str) -> None:
    # What drivers and people put in messages: the URL itself, the password alone, a libpq
    # echo of a keyword DSN, the URL inside a sentence.
    for text in (
        url,
        f"could not connect: {url}: refused",
        f'password authentication failed (password "{password}")',
        f"invalid percent-encoded token: {password}",
        f"connection to {url!r} failed; conninfo was {url}",
    ):
        masked = redact(text, url)
        for secret in spellings(url, password):
            assert secret not in masked, (text, masked)
        assert "***" in masked


def test_credential_shapes_are_masked_without_knowing_the_url() -> None:
    text = (
        "tried postgresql://bob:b0b-secret@db/app and "
        "host=db password='q uoted' user=x and mysql://eve:ev3@h/x?password=p4ss"
    )
    masked = redact(text)
    for secret in ("b0b-secret", "q uoted", "ev3", "p4ss"):
        assert secret not in masked
    assert "postgresql://bob:***@db/app" in masked and "user=x" in masked


def test_text_without_a_secret_is_left_alone() -> None:
    text = 'connection to server at "127.0.0.1", port 5432 failed: Connection refused'
    assert redact(text, "postgresql://app@127.0.0.1/app") == text


@pytest.mark.parametrize(("url", "password"), AWKWARD[:-1])
def test_postgres_urls_are_split_at_the_last_at_and_decoded_leniently(
    url: str, password: str
) -> None:
    params = connection_params(url)
    assert params["password"] == password
    assert params["host"] == "127.0.0.1" and params["port"] == "1"
    assert params["user"] == "app"


def test_the_userinfo_ends_before_the_query() -> None:
    assert split_userinfo("postgresql://db/app?user=a@b") == (
        None,
        "postgresql://db/app?user=a@b",
        "user=a@b",
    )
    assert split_userinfo("postgresql://u:p@ss@db:5/app")[:2] == ("u:p@ss", "postgresql://db:5/app")


def test_a_bad_url_is_a_config_error_that_never_echoes_it() -> None:
    with pytest.raises(ConfigError) as info:
        connection_params("postgresql://app:s3cret@db:port/app")
    assert "s3cret" not in info.value.message
    with pytest.raises(ConfigError) as info:
        connection_params("postgresql://app:s3cret@db/app?bogus_option=1")
    assert "s3cret" not in info.value.message and "bad PostgreSQL URL" in info.value.message


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
