"""Metrics, pings and the step summary through a real run (each has its own unit tests)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import cast

import httpx
import respx

from tests.support.support import TOKEN_URLS, Cli, seed
from tests.unit.test_metrics import NOW, POLL, REFRESH, Samples, parse
from tokensync.errors import StorageError
from tokensync.output.job_document import job_document
from tokensync.output.metrics import StoredState, write_metrics
from tokensync.output.monitoring import Monitoring
from tokensync.runtime.async_store import AsyncStore
from tokensync.runtime.clock import SystemClock
from tokensync.runtime.deps import Deps
from tokensync.settings import load_settings
from tokensync.store import Store
from tokensync.store.models import StatusCount
from tokensync.store.spool import Spool


def samples(path: Path) -> Samples:
    return parse(path)[0]


def test_reauth_counts_survive_a_database_that_is_away(tmp_path: Path) -> None:
    class Away:
        def status_counts(self) -> list[StatusCount]:
            raise StorageError("SQLite (tokensync.db): disk I/O error")

    metrics = tmp_path / "tokensync.prom"
    write_metrics(metrics, REFRESH, StoredState(connections={("discord", "needs_reauth"): 3}), NOW)
    db = AsyncStore(cast(Store, Away()))

    async def finish() -> None:
        async with httpx.AsyncClient() as client:
            deps = Deps(
                settings=load_settings({"TOKENSYNC_DATA_DIR": str(tmp_path)}),
                db=db,
                http=client,
                spool=Spool(tmp_path / "spool", "db"),
                clock=SystemClock(),
                owner="poll-test",
            )
            await Monitoring(metrics_file=metrics).finished(deps, POLL, job_document(POLL))

    asyncio.run(finish())
    db.close()
    got = samples(metrics)
    assert got[("tokensync_connections_needs_reauth", (("platform", "discord"),))] == 3
    assert got[("tokensync_last_run_success", (("job", "poll-platforms"),))] == 1


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
