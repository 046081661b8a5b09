"""Metrics file, pings and the GitHub step summary: unit tests and through a real run."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import respx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import CLIENT_ENV
from tests.refresh_helpers import TOKEN_URLS, Cli, seed
from tokensync.metrics import write_metrics
from tokensync.ping import ping
from tokensync.step_summary import render_step_summary

NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
REFRESH = {
    "success": True,
    "cronType": "token-refresh",
    "durationMs": 1500,
    "tokensChecked": 3,
    "tokensRefreshed": 2,
    "tokensFailed": 1,
    "needsReauth": 1,
    "results": [
        {
            "platform": "discord",
            "userId": "u_2",
            "success": False,
            "status": "needs_reauth",
            "error": {"code": "invalid_grant", "message": "revoked | by user"},
        }
    ],
}
POLL = {
    "success": True,
    "cronType": "platform-polling",
    "durationMs": 5120,
    "userCount": 5,
    "platformCount": 12,
    "pollsSuccessful": 12,
    "pollsFailed": 0,
    "itemsFetched": 431,
    "itemsStored": 57,
    "results": [],
}


def samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = path.read_text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_parse_and_keep_both_jobs(tmp_path: Path) -> None:
    path = tmp_path / "tokensync.prom"
    write_metrics(path, REFRESH, {"discord": 1}, NOW)
    write_metrics(path, POLL, {"discord": 1, "spotify": 2}, NOW)
    got = samples(path)
    job = (("job", "refresh-tokens"),)
    assert got[("tokensync_last_run_success", job)] == 1
    assert got[("tokensync_last_run_duration_seconds", job)] == 1.5
    assert got[("tokensync_last_success_timestamp_seconds", job)] == NOW.timestamp()
    assert (
        got[("tokensync_last_run_items", (("job", "refresh-tokens"), ("outcome", "refreshed")))]
        == 2
    )
    assert (
        got[("tokensync_last_run_items", (("job", "poll-platforms"), ("outcome", "items_stored")))]
        == 57
    )
    assert got[("tokensync_connections_needs_reauth", (("platform", "spotify"),))] == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert "# TYPE tokensync_last_run_success gauge" in path.read_text()


def test_a_failed_run_keeps_the_last_success_time(tmp_path: Path) -> None:
    path = tmp_path / "tokensync.prom"
    write_metrics(path, REFRESH, {}, NOW)
    later = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
    write_metrics(path, {**REFRESH, "success": False}, {}, later)
    got = samples(path)
    job = (("job", "refresh-tokens"),)
    assert got[("tokensync_last_success_timestamp_seconds", job)] == NOW.timestamp()
    assert got[("tokensync_last_run_timestamp_seconds", job)] == later.timestamp()
    assert got[("tokensync_last_run_success", job)] == 0


def test_metrics_are_replaced_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tokensync.prom"
    write_metrics(path, REFRESH, {}, NOW)
    before = path.read_text()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_metrics(path, POLL, {}, NOW)
    assert path.read_text() == before, "the old file stands whole"
    assert [p.name for p in tmp_path.iterdir()] == ["tokensync.prom"], "no temp file left"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("event", "suffix"), [("start", "/start"), ("success", ""), ("fail", "/fail")]
)
async def test_ping_events(event: str, suffix: str) -> None:
    url = "https://hc-ping.com/0b4a3bd4-6f4e-4b0a-9c1a-6d2c0b6d1c11"
    with respx.mock(assert_all_called=True) as router:
        route = router.post(url + suffix).respond(200, text="OK")
        async with httpx.AsyncClient() as client:
            await ping(client, url, event, '{"success": true}')  # type: ignore[arg-type]
    assert route.calls[0].request.content == b'{"success": true}'


@pytest.mark.anyio
@pytest.mark.parametrize(
    "effect", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(500)]
)
async def test_a_failing_ping_never_fails_the_job(
    effect: object, caplog: pytest.LogCaptureFixture
) -> None:
    url = "https://hc-ping.com/secret-uuid-1234"
    with respx.mock(assert_all_called=True) as router:
        router.post(url + "/fail").mock(side_effect=[effect])
        async with httpx.AsyncClient() as client:
            await ping(client, url, "fail", "{}")
    assert "secret-uuid-1234" not in caplog.text and "hc-ping.com" in caplog.text


@pytest.mark.anyio
async def test_a_hanging_ping_is_cut_short() -> None:
    import asyncio
    import time

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.05)
        raise httpx.ReadTimeout("the monitor is slow", request=request)

    with respx.mock(assert_all_called=False) as router:
        router.post("https://hc-ping.com/abc/start").mock(side_effect=hang)
        started = time.monotonic()
        async with httpx.AsyncClient() as client:
            await ping(client, "https://hc-ping.com/abc", "start", timeout=0.2)
    assert time.monotonic() - started < 2


def test_step_summary_lists_failures_escaped() -> None:
    text = render_step_summary(REFRESH)
    assert text.startswith("### tokensync refresh-tokens succeeded")
    assert "| tokensRefreshed | 2 |" in text
    assert "| u_2 | discord | needs_reauth | invalid_grant | revoked \\| by user |" in text
    poll = render_step_summary(
        {
            **POLL,
            "success": False,
            "pollsFailed": 1,
            "results": [
                {
                    "userId": "u1",
                    "platform": "github",
                    "success": False,
                    "results": [
                        {
                            "endpoint": "events",
                            "success": False,
                            "itemCount": 0,
                            "newItems": 0,
                            "error": {"code": "rate_limited", "message": "slow down"},
                        }
                    ],
                }
            ],
        }
    )
    assert "| u1 | github | events | rate_limited | slow down |" in poll


@pytest.fixture
def cli(run_cli: Cli) -> Cli:
    def run(*args: str, **kw):  # type: ignore[no-untyped-def]
        return run_cli(*args, extra_env={**CLIENT_ENV, **kw.pop("extra_env", {})}, **kw)

    return run


def test_a_run_writes_metrics_pings_and_the_step_summary(
    cli: Cli, mock_http: respx.MockRouter, tmp_path: Path
) -> None:
    seed(cli, ("u", "discord"))
    mock_http.post(TOKEN_URLS["discord"]).respond(
        400, json={"error": "invalid_grant", "error_description": "revoked"}
    )
    start = mock_http.post("https://hc-ping.com/uuid-1/start").respond(200)
    fail = mock_http.post("https://hc-ping.com/uuid-1/fail").respond(200)
    metrics, summary = tmp_path / "m" / "tokensync.prom", tmp_path / "summary.md"
    result = cli(
        "refresh-tokens",
        "--metrics-file",
        str(metrics),
        "--ping-url",
        "https://hc-ping.com/uuid-1",
        extra_env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert result.code == 1
    assert start.called and json.loads(fail.calls[0].request.content)["needsReauth"] == 1
    got = samples(metrics)
    assert got[("tokensync_connections_needs_reauth", (("platform", "discord"),))] == 1
    assert got[("tokensync_last_run_success", (("job", "refresh-tokens"),))] == 0
    assert "| u | discord | needs_reauth | invalid_grant |" in summary.read_text()
