"""The loopback provider stand-in (tests/support/provider.py) as its own process, as the benchmark
and the process tests run it: its command line takes the options and serves. The stand-in in
process is tests/unit/test_provider.py."""

from __future__ import annotations

import random

import httpx

from tests.support.processes import running_provider
from tests.support.provider import CLIENT_ID, CLIENT_SECRET

AUTH = (CLIENT_ID, CLIENT_SECRET)


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def test_the_command_line_takes_the_options_and_serves() -> None:
    args = ["--delay", "0", "--no-rotate", "--page-size", "4", "--seed", "5"]
    with running_provider(*args, "--fail-fraction", "0.5", "--api-fail-fraction", "0.5") as remote:
        assert remote.url.startswith("http://127.0.0.1:")
        remote.add_grants(["rt-a"])
        with httpx.Client(base_url=remote.url, timeout=10) as client:
            data = {"grant_type": "refresh_token", "refresh_token": "rt-a"}
            tokens = [client.post("/token", data=data, auth=AUTH) for _ in range(20)]
            events = [
                client.get("/github/users/user1/events", headers=bearer("bench-at-1-0"))
                for _ in range(20)
            ]
        stats = remote.stats()
    expected = random.Random(5)
    assert [r.status_code for r in tokens] == [
        503 if expected.random() < 0.5 else 200 for _ in range(20)
    ]
    assert all("refresh_token" not in r.json() for r in tokens if r.status_code == 200)
    assert all(len(r.json()) == 4 for r in events if r.status_code == 200)
    assert stats["failures_injected"] + stats["refreshes"] == 20
    assert 0 < stats["api_failures_injected"] < 20
