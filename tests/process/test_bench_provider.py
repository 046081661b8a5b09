"""The benchmark's Node provider answers as tests/support/provider.py does: the same JSON, the same
strictness, so that a benchmark against it measures tokensync, not a different stand-in."""

from __future__ import annotations

import shutil

import httpx
import pytest

from tests.support.processes import running_provider
from tests.support.provider import CLIENT_ID, CLIENT_SECRET

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
PAGES = [
    "/discord/api/v10/users/@me/guilds?limit=200",
    "/spotify/v1/me/player/recently-played?limit=50",
    "/spotify/v1/me/top/tracks?time_range=short_term&limit=50&offset=0",
    "/github/user",
    "/github/users/user7/events?per_page=4",
    "/github/users/user7/events?per_page=4&page=3",
    "/github/user/repos?per_page=3&page=2",
]


def answers(url: str) -> list[tuple[int, object, str | None, str | None]]:
    """Each page's status, JSON and paging headers, for user 7."""
    seen = []
    with httpx.Client(base_url=url, headers={"Authorization": "Bearer bench-at-7-0"}) as client:
        for path in PAGES:
            response = client.get(path)
            link = response.headers.get("link")
            seen.append(
                (
                    response.status_code,
                    response.json(),
                    link.replace(url, "") if link else None,
                    response.headers.get("etag"),
                )
            )
        unauthorized = client.get(PAGES[0], headers={"Authorization": "Bearer nobody"})
        seen.append((unauthorized.status_code, unauthorized.json(), None, None))
    return seen


def test_the_node_provider_serves_the_same_pages() -> None:
    with (
        running_provider("--delay", "0", "--page-size", "10") as python,
        running_provider("--delay", "0", "--page-size", "10", node=True) as node,
    ):
        assert answers(node.url) == answers(python.url)


def test_both_providers_serve_as_many_guilds_as_asked() -> None:
    """--guilds: the Discord scenario of bench/run.py (--poll-scenario discord-guilds)."""
    with (
        running_provider("--delay", "0", "--guilds", "100") as python,
        running_provider("--delay", "0", "--guilds", "100", node=True) as node,
    ):
        guilds = [
            httpx.get(
                f"{provider.url}{PAGES[0]}", headers={"Authorization": "Bearer bench-at-7-0"}
            ).json()
            for provider in (python, node)
        ]
    assert guilds[0] == guilds[1]
    assert len(guilds[0]) == 100 and len({g["id"] for g in guilds[0]}) == 100


def test_the_node_provider_rotates_strictly_and_revokes_on_reuse() -> None:
    form = {"grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    with running_provider("--delay", "0", node=True) as provider:
        provider.add_grants(["rt-a"])
        with httpx.Client(base_url=provider.url) as client:
            first = client.post("/token", data={**form, "refresh_token": "rt-a"})
            rotated = first.json()["refresh_token"]
            reused = client.post("/token", data={**form, "refresh_token": "rt-a"})
            after = client.post("/token", data={**form, "refresh_token": rotated})
            wrong = client.post(
                "/token", data={**form, "client_secret": "x", "refresh_token": rotated}
            )
        assert first.status_code == 200 and first.json()["expires_in"] == 3600
        assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
        assert after.status_code == 400, "a reused token revoked the whole grant"
        assert wrong.status_code == 401
        stats = provider.stats()
    assert (stats["refreshes"], stats["reused_tokens"], stats["revoked_grants"]) == (1, 1, 1)
