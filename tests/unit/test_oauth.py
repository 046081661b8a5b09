"""The classification of token endpoint answers, with the platforms' real bodies (PLATFORMS.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from tokensync.errors import (
    ClientConfigError,
    MalformedResponseError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from tokensync.oauth.token_endpoint import classify, request_parts
from tokensync.platforms.catalog import Platform
from tokensync.redaction import NO_SECRETS

JSON = {"content-type": "application/json"}


def body(value: object) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    ("platform", "status", "payload", "error", "code"),
    [
        (
            "spotify",
            400,
            {"error": "invalid_grant", "error_description": "Refresh token revoked"},
            PermanentError,
            "invalid_grant",
        ),
        (
            "spotify",
            400,
            {"error": "invalid_client", "error_description": "Invalid client"},
            ClientConfigError,
            "invalid_client",
        ),
        (
            "google",
            400,
            {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
            PermanentError,
            "invalid_grant",
        ),
        (
            "google",
            401,
            {"error": "invalid_client", "error_description": "Unauthorized"},
            ClientConfigError,
            "invalid_client",
        ),
        (
            "google",
            401,
            {"error": "unauthorized_client", "error_description": "Unauthorized"},
            ClientConfigError,
            "unauthorized_client",
        ),
        (
            "github",
            200,
            {
                "error": "bad_refresh_token",
                "error_description": "The refresh token passed is incorrect or expired.",
                "error_uri": "https://docs.github.com",
            },
            PermanentError,
            "bad_refresh_token",
        ),
        (
            "github",
            200,
            {
                "error": "incorrect_client_credentials",
                "error_description": "The client_id and/or client_secret passed are incorrect.",
            },
            ClientConfigError,
            "incorrect_client_credentials",
        ),
        (
            "discord",
            400,
            {"error": "invalid_grant", "error_description": 'Invalid "refresh_token" in request'},
            PermanentError,
            "invalid_grant",
        ),
        (
            "discord",
            400,
            {"error": "invalid_request", "error_description": 'Invalid "refresh_token" in request'},
            PermanentError,
            "invalid_request",
        ),
        ("discord", 401, {"error": "invalid_client"}, ClientConfigError, "invalid_client"),
        (
            "acme",
            400,
            {"error": "temporarily_unavailable"},
            TransientError,
            "temporarily_unavailable",
        ),
        ("acme", 400, {"error": "invalid_scope"}, TransientError, "invalid_scope"),
    ],
)
def test_error_bodies(platform, status, payload, error, code) -> None:
    with pytest.raises(error) as info:
        classify(platform, status, JSON, body(payload))
    assert info.value.code == code
    assert type(info.value) is error


def test_github_form_encoded_error_without_accept_header() -> None:
    headers = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    with pytest.raises(PermanentError):
        classify("github", 200, headers, b"error=bad_refresh_token&error_description=expired")


def test_success_shapes() -> None:
    spotify = classify(
        "spotify",
        200,
        JSON,
        body(
            {
                "access_token": "NEW",
                "token_type": "Bearer",
                "scope": "user-read-private",
                "expires_in": 3600,
                "refresh_token": "ROT",
            }
        ),
    )
    assert (spotify.access_token, spotify.refresh_token, spotify.expires_in) == ("NEW", "ROT", 3600)
    google = classify(
        "google",
        200,
        JSON,
        body(
            {
                "access_token": "ya29.x",
                "expires_in": 3599,
                "scope": "openid",
                "token_type": "Bearer",
            }
        ),
    )
    assert google.refresh_token is None and google.expires_in == 3599
    as_string = classify("acme", 200, JSON, body({"access_token": "a", "expires_in": "7200"}))
    assert as_string.expires_in == 7200
    none = classify("github", 200, JSON, body({"access_token": "gho_x", "token_type": "bearer"}))
    assert none.expires_in is None


@pytest.mark.parametrize(
    ("status", "headers", "raw", "error"),
    [
        (503, {"content-type": "text/html"}, b"<html>Service Unavailable</html>", TransientError),
        (200, {"content-type": "text/html"}, b"<html>Oops</html>", MalformedResponseError),
        (200, JSON, b'{"access_token": "abc", "expi', MalformedResponseError),
        (200, JSON, b'{"token_type": "Bearer", "expires_in": 3600}', MalformedResponseError),
        (200, JSON, b'{"access_token": "", "expires_in": 3600}', MalformedResponseError),
        (200, JSON, b'{"access_token": "a", "refresh_token": 12}', MalformedResponseError),
        (200, JSON, b"[1, 2]", MalformedResponseError),
        (404, JSON, b"{}", TransientError),
    ],
)
def test_garbage_is_transient(status, headers, raw, error) -> None:
    with pytest.raises(error):
        classify("acme", status, headers, raw)


def test_a_bad_expires_in_keeps_the_token_and_warns() -> None:
    tokens = classify("acme", 200, JSON, body({"access_token": "a", "expires_in": "soon"}))
    assert tokens.access_token == "a" and tokens.expires_in is None
    assert tokens.warning is not None and "'soon'" in tokens.warning


def test_token_problems_say_what_was_lost() -> None:
    with pytest.raises(MalformedResponseError) as info:
        classify("acme", 200, JSON, body({"access_token": "a", "refresh_token": 12}))
    assert "refresh_token that is not a usable string (a JSON number)" in info.value.message
    with pytest.raises(MalformedResponseError) as info:
        classify("acme", 200, JSON, body({"refresh_token": "ROT-SECRET", "expires_in": 60}))
    message = info.value.message
    assert "refresh token in it could not be used" in message and "ROT-SECRET" not in message


def test_rate_limit_reads_retry_after() -> None:
    with pytest.raises(RateLimitedError) as info:
        classify("spotify", 429, {"retry-after": "17"}, b"")
    assert info.value.retry_after == 17
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    with pytest.raises(RateLimitedError) as info:
        classify("spotify", 429, {"retry-after": when}, b"")
    assert info.value.retry_after is not None and 60 < info.value.retry_after <= 120
    for garbage in ("soon", "inf", "nan", ""):
        with pytest.raises(RateLimitedError) as info:
            classify("spotify", 429, {"retry-after": garbage}, b"")
        assert info.value.retry_after is None
    with pytest.raises(RateLimitedError) as info:
        classify("spotify", 429, {"retry-after": "-5"}, b"")
    assert info.value.retry_after == 0
    with pytest.raises(RateLimitedError) as info:
        classify("spotify", 429, {}, b"")
    assert info.value.retry_after is None


def test_descriptions_never_echo_secrets() -> None:
    payload = {"error": "invalid_grant", "error_description": "token RT-SECRET is revoked"}
    with pytest.raises(PermanentError) as info:
        classify("acme", 400, JSON, body(payload), secrets=NO_SECRETS.plus("RT-SECRET"))
    assert "RT-SECRET" not in info.value.message


def test_request_parts_basic_and_post() -> None:
    basic = Platform("spotify", "https://t", None, "client_secret_basic", "id:1", "s&2")
    form, headers = request_parts(basic, "RT")
    assert form == {"grant_type": "refresh_token", "refresh_token": "RT"}
    assert headers["Authorization"] == "Basic aWQlM0ExOnMlMjYy"  # id%3A1:s%262
    post = Platform("discord", "https://t", None, "client_secret_post", "id", "secret")
    form, headers = request_parts(post, "RT")
    assert form["client_id"] == "id" and form["client_secret"] == "secret"
    assert "Authorization" not in headers and headers["Accept"] == "application/json"
