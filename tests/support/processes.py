"""Real processes for the tests that need them: the loopback provider, and tokensync itself."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from tests.support.contract import check_output
from tests.support.provider import CLIENT_ID, CLIENT_SECRET


class ProviderProcess:
    """A tests.support.provider running in a process of its own."""

    def __init__(self, url: str) -> None:
        self.url = url

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/stats", timeout=10).json())

    def add_grants(self, refresh_tokens: Sequence[str]) -> None:
        httpx.post(f"{self.url}/admin/grants", json=list(refresh_tokens), timeout=30)

    def hold(self, held: bool) -> None:
        """Hold every token request in flight (answer none) until hold(False)."""
        httpx.post(f"{self.url}/admin/hold", json={"hold": held}, timeout=30)

    def wait_in_flight(self, count: int) -> None:
        """Wait until at least `count` token requests are in flight here (held, say)."""
        wait_for(lambda: self.stats()["in_flight"] >= count, f"{count} refreshes in flight")

    def change_data(self, command: dict[str, Any]) -> None:
        """Change a user's platform data (tests/support/platform_data.py says how)."""
        httpx.post(f"{self.url}/admin/data", json=command, timeout=30).raise_for_status()

    def live(self) -> set[str]:
        """The refresh tokens alive at the provider now: one per grant not revoked."""
        return set(httpx.get(f"{self.url}/admin/live", timeout=30).json())

    def config(
        self,
        path: Path,
        *,
        discord: dict[str, object] | None = None,
        revocation: bool = False,
        calendar: bool = False,
        **settings: object,
    ) -> Path:
        """A tokensync config sending discord, spotify and github requests here (and, with
        `calendar`, google_calendar's).

        `discord` adds settings of that platform's section (its concurrency, say). `revocation`:
        discord revokes here too, and, since this provider ends only the grant a token belongs
        to (not every grant of the user, as Discord does), revokes superseded grants' tokens.
        """
        if revocation:
            discord = {
                "revocation_url": f"{self.url}/revoke",
                "revoke_superseded": True,
                **(discord or {}),
            }
        lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
        platforms = [
            ("discord", "/discord/api/v10"),
            ("spotify", "/spotify/v1"),
            ("github", "/github"),
        ]
        for platform, base in platforms + [("google_calendar", "/calendar/v3")] * calendar:
            lines += [
                f"[platforms.{platform}]",
                f'token_url = "{self.url}/token"',
                f'api_base = "{self.url}{base}"',
                f'client_id = "{CLIENT_ID}"',
                f'client_secret = "{CLIENT_SECRET}"',
            ]
            if platform == "discord":
                lines += [f"{key} = {json.dumps(value)}" for key, value in (discord or {}).items()]
        path.write_text("\n".join(lines) + "\n")
        return path


NODE_PROVIDER = Path(__file__).resolve().parents[2] / "bench" / "provider.mjs"


@contextlib.contextmanager
def running_provider(*args: str, node: bool = False) -> Iterator[ProviderProcess]:
    """Start `python -m tests.support.provider ARGS` (or, with `node`, its Node twin
    bench/provider.mjs) on a free port; stop it afterwards."""
    root = Path(__file__).resolve().parents[2]
    command = (
        ["node", str(NODE_PROVIDER)] if node else [sys.executable, "-m", "tests.support.provider"]
    )
    process = subprocess.Popen(
        [*command, "--port", "0", *args],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        yield ProviderProcess(json.loads(line)["url"])
    finally:
        process.terminate()
        process.wait(timeout=10)


def tokensync(
    args: Sequence[str], env: dict[str, str], *, wrapper: Sequence[str] = (), **popen: Any
) -> subprocess.Popen[str]:
    """Start `python -m tokensync ARGS` with this environment (under `wrapper`, a command that
    runs another, such as faketime)."""
    return subprocess.Popen(
        [*wrapper, sys.executable, "-m", "tokensync", *args],
        env={**os.environ, **env} if "PATH" not in env else env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, Any, str]:
    """Wait for a tokensync process; return (exit code, its JSON document, stderr). The document
    is validated against its schema (tests/support/contract.py)."""
    out, err = process.communicate(timeout=timeout)
    check_output(tokensync_args(process), out)
    return process.returncode, json.loads(out), err


def tokensync_args(process: subprocess.Popen[str]) -> list[str]:
    """The command line of a `python -m tokensync` process, past `-m tokensync`."""
    argv = [str(a) for a in process.args]  # type: ignore[union-attr]
    return argv[argv.index("tokensync") + 1 :] if "tokensync" in argv else argv[1:]


def discord_grants(provider: ProviderProcess, n: int, *, expires_in: int = 60) -> str:
    """Register n grants RT-0.. with the provider; return the import lines of users u0.. ."""
    provider.add_grants([f"RT-{i}" for i in range(n)])
    return "\n".join(
        json.dumps(
            {
                "userId": f"u{i}",
                "platform": "discord",
                "accessToken": f"AT-{i}",
                "refreshToken": f"RT-{i}",
                "expiresIn": expires_in,
            }
        )
        for i in range(n)
    )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll until `condition` holds; fail naming `what` if it never does."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)
