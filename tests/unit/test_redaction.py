"""No database password reaches a message, whatever its shape (issue 14): one redaction function
for anything built from a URL or a driver error, and PostgreSQL URLs split by us, not by libpq.
What the commands print is tests/cli/test_redaction_cli.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.hostile import SPELLINGS, leaks, secret_runs
from tokensync.errors import ConfigError
from tokensync.redaction import (
    MAX_TEXT,
    NO_SECRETS,
    RUN,
    redact,
    safe_code,
    scrub,
    split_userinfo,
    url_secrets,
)
from tokensync.store.pg_url import connection_params

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


# -- what a provider or a platform echoes back -----------------------------------------------------

REFRESH = "1//0gAbCdEfGhIjKlMnOpQrStUvWxYz-_.~+/refresh"
CLIENT_SECRET = "GOCSPX-cl1ent s3cret/+=%value"
ACCESS = "ya29.a0AfB_byC-access.token~value"
IN_PLAY = NO_SECRETS.plus(REFRESH, CLIENT_SECRET, ACCESS)


def runs_of(secret: str, length: int = RUN) -> set[str]:
    """Every run of `length` characters of `secret`."""
    return {secret[i : i + length] for i in range(len(secret) - length + 1)}


def assert_clean(text: str, *secrets: str) -> None:
    """No run of RUN characters of any secret, in any of its forms, is in `text`."""
    assert leaks(text, secret_runs(*secrets)) == [], text


@pytest.mark.parametrize(("name", "spell"), SPELLINGS, ids=[n for n, _ in SPELLINGS])
def test_every_spelling_of_every_secret_is_masked(name: str, spell: Callable[[str], str]) -> None:
    for secret in (REFRESH, CLIENT_SECRET, ACCESS):
        text = f"error: {spell(secret)} was refused"
        cleaned = scrub(text, IN_PLAY, limit=10_000)
        assert_clean(cleaned, secret)
        assert cleaned.startswith("error: ") and cleaned.endswith(" was refused"), cleaned


@pytest.mark.parametrize("offset", [*range(0, 260, 9), *range(185, 201)])
def test_a_secret_near_the_cut_leaves_no_prefix(offset: int) -> None:
    text = "x" * offset + REFRESH + " and more"
    cleaned = scrub(text, IN_PLAY)
    assert len(cleaned) <= MAX_TEXT
    for run in runs_of(REFRESH, 4):  # not even 4 characters of it: the cut comes after the mask
        assert run not in cleaned.replace("x", "")


def test_messages_are_printable_and_bounded() -> None:
    text = "bad\x00 \x1b[31mred\x1b[0m \u202eevil\u202c \u2066iso\u2069 line\nbreak\r\n" + "y" * 900
    cleaned = scrub(text, NO_SECRETS)
    assert cleaned.startswith("bad [31mred[0m evil iso line break yyy")
    assert len(cleaned) == MAX_TEXT and cleaned.endswith("...")
    assert all(c.isprintable() for c in cleaned)


def test_credentials_are_masked_by_their_shape_too() -> None:
    text = (
        'client_secret=abc123 "refresh_token": "zzz.yyy" Authorization: Bearer eyJ0eXAi.x.y '
        "Basic dXNlcjpwYXNz token ghp_0123456789abcdef"
    )
    cleaned = scrub(text, NO_SECRETS)
    for secret in ("abc123", "zzz.yyy", "eyJ0eXAi", "dXNlcjpwYXNz", "ghp_0123456789abcdef"):
        assert secret not in cleaned, cleaned
    for benign in (
        "Invalid refresh_token. Bearer token expired",
        "Invalid token: the token is expired; Basic authentication failed",
        'Invalid "refresh_token" in request',
    ):
        assert scrub(benign, NO_SECRETS) == benign
    masked = scrub('token=abc.def&secret=s3 {"token": "t0k", "secret":"x"}', NO_SECRETS)
    assert masked == 'token=***&secret=*** {"token": "***", "secret":"***"}', masked


def test_error_codes_are_kept_only_when_they_are_short_words_without_a_secret() -> None:
    assert safe_code("invalid_grant", IN_PLAY) == "invalid_grant"
    assert safe_code("urn.example-1_x", IN_PLAY) == "urn.example-1_x"
    for bad in ("", "a b", "x" * 65, "bad\ncode", "é", None, 7, ACCESS, f"pre{ACCESS[:14]}"):
        assert safe_code(bad, IN_PLAY) is None, bad


@given(
    secret=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=RUN),
    spelling=st.sampled_from(SPELLINGS),
    before=st.text(max_size=60),
    after=st.text(max_size=60),
)
@settings(max_examples=400, deadline=None)
def test_no_run_of_a_secret_survives_in_any_spelling_anywhere(
    secret: str, spelling: tuple[str, Callable[[str], str]], before: str, after: str
) -> None:
    """For any secret and any of its spellings embedded anywhere in any text, the output holds
    no run of RUN characters of the secret."""
    _, spell = spelling
    cleaned = scrub(before + spell(secret) + after, NO_SECRETS.plus(secret), limit=100_000)
    for run in runs_of(secret):
        assert run not in cleaned
