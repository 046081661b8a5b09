"""Property tests (issue 14), on both engines: whatever an import line holds (any JSON, any bytes)
there is no traceback, no exit 1, one document, and a refused import changes no row; whatever a
token endpoint answers (any status, any JSON, any bytes) a refresh run ends with its document,
exit 0 or 1, no secret printed, and the stored refresh token replaced only by a new one."""

from __future__ import annotations

import json
from typing import Any

import httpx
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.support import CLIENT_ENV, TOKEN_URLS, Cli, seed, tokens
from tokensync.store import open_store

# A database per test, shared by its examples: each example checks its own before and after.
EXAMPLES = settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "userId",
    "platform",
    "accessToken",
    "refreshToken",
    "expiresAt",
    "expiresIn",
    "scope",
    "refreshTokenExpiresAt",
    "refreshTokenExpiresIn",
]
field_values = st.one_of(
    json_values,
    st.sampled_from(["github", "spotify", "nope", "", " ", "2026-11-28T15:00:00Z"]),
    st.sampled_from(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00", "u\u0000", "x" * 300]),
    st.floats(min_value=-1e30, max_value=1e30),
)
NEARLY_VALID = {"userId": "p", "platform": "github", "accessToken": "a"}
records = st.dictionaries(st.sampled_from(FIELDS + ["extra"]), field_values, max_size=7)
lines = st.one_of(
    json_values.map(json.dumps),
    records.map(json.dumps),
    records.map(
        lambda r: json.dumps({"userId": "p", "platform": "github", "accessToken": "a", **r})
    ),
)
inputs = st.one_of(
    st.lists(lines, min_size=1, max_size=4).map(lambda ls: "\n".join(ls).encode()),
    st.binary(max_size=200),
    st.lists(st.binary(max_size=40), max_size=4).map(b"\n".join),
)


def snapshot(db_url: str) -> list[Any]:
    """Every column of every connection, ciphertexts included."""
    store = open_store(db_url)
    try:
        return [c for c in store.iter_connections()]
    finally:
        store.close()


@EXAMPLES
@given(data=inputs)
def test_no_import_line_breaks_anything(cli: Cli, db_url: str, data: bytes) -> None:
    before = snapshot(db_url)
    result = cli("tokens", "import", stdin=data)
    assert result.code in (0, 2), (data, result.out, result.err)
    document = json.loads(result.out)
    assert result.out.count("\n") == 1
    assert "Traceback" not in result.err
    if result.code == 2:
        assert document["error"]["code"] in ("invalid_import", "usage_error")
        assert snapshot(db_url) == before, "a refused import changed a row"
    else:
        assert document["success"] is True


# -- token responses ------------------------------------------------------------------------------

statuses = st.sampled_from([200, 200, 200, 201, 204, 301, 400, 401, 403, 404, 429, 500, 503])
bodies = st.one_of(
    st.binary(max_size=120),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {},
        optional={
            "access_token": json_values | st.text(min_size=1, max_size=20),
            "refresh_token": json_values | st.text(min_size=1, max_size=20),
            "expires_in": json_values | st.sampled_from(["3600", "NaN", "1e400", "-5", "1e20"]),
            "error": json_values | st.sampled_from(["invalid_grant", "invalid_client"]),
            "error_description": json_values,
        },
    ).map(lambda d: json.dumps(d).encode()),
)
headers = st.dictionaries(
    st.sampled_from(["content-type", "retry-after"]),
    st.sampled_from(["application/json", "text/html", "application/x-www-form-urlencoded", "5"]),
    max_size=2,
)


@EXAMPLES
@given(status=statuses, body=bodies, extra=headers)
def test_no_token_response_breaks_a_run(
    cli: Cli, db_url: str, key: str, status: int, body: bytes, extra: dict[str, str]
) -> None:
    seed(cli, ("p", "discord"))  # re-imported each time: active, due, RT-discord-p
    with respx.mock(using="httpx", assert_all_called=False) as router:
        router.post(TOKEN_URLS["discord"]).mock(
            return_value=httpx.Response(status, content=body, headers=extra)
        )
        result = cli("refresh-tokens", "--platform", "discord")
    assert result.code in (0, 1), (status, body, result.out, result.err)
    document = json.loads(result.out)
    assert "Traceback" not in result.err
    (entry,) = document["results"]
    for secret in ("RT-discord-p", CLIENT_ENV["TOKENSYNC_DISCORD_CLIENT_SECRET"], key):
        assert secret not in result.out and secret not in result.err
    access, refresh = tokens(db_url, key, "p", "discord")
    if entry["success"]:
        assert entry["rotated"] is (refresh != "RT-discord-p")
        assert refresh  # a success never leaves the connection without its refresh token
    else:
        assert refresh == "RT-discord-p", "a failed refresh keeps the stored token"
        assert access == "AT-discord-p"


GRANT_NAMES = ["access_token", "refresh_token", "expires_in", "scope", "token_type", "id_token"]
grant_values = st.one_of(
    json_values,
    st.sampled_from(["3600", "nan", "inf", "-1", "1e400", " 60 ", "", "AT"]),
    st.floats(allow_nan=True, allow_infinity=True),
)


@given(
    grant=st.dictionaries(
        st.sampled_from([*GRANT_NAMES, "refresh_token_expires_in"]), grant_values, max_size=6
    ),
    platform=st.sampled_from(["github", "spotify"]),
)
@settings(max_examples=300, deadline=None, database=None)
def test_a_grant_is_a_row_or_an_import_error(grant: dict[str, Any], platform: str) -> None:
    """What an OAuth callback hands save_grant (any JSON values, numbers as strings, NaN): a
    checked row, or ImportFormatError (exit 2), never another exception or an expiry out of
    range. On Spotify, a new refresh token without an end of its own ends six months on."""
    from datetime import UTC, datetime

    from tokensync.connections.token_import import grant_row
    from tokensync.crypto import Keyring, generate_key
    from tokensync.errors import ImportFormatError
    from tokensync.platforms.catalog import BUILTIN_PLATFORMS
    from tokensync.times import in_range

    now = datetime(2026, 12, 2, tzinfo=UTC)
    keyring = Keyring([generate_key()])
    try:
        row = grant_row("u", platform, grant, BUILTIN_PLATFORMS, keyring, now)
    except ImportFormatError:
        return
    for when in (row.expires_at, row.refresh_token_expires_at):
        assert when is None or in_range(when)
    assert row.keep_refresh == (grant.get("refresh_token") in (None, ""))
    if platform == "spotify" and row.refresh_token_enc and "refresh_token_expires_in" not in grant:
        assert row.refresh_token_expires_at == datetime(2027, 6, 2, tzinfo=UTC)
