"""Where a job run reports besides stdout: a healthchecks.io-style ping, a Prometheus textfile,
and a GitHub Actions step summary. None of them ever fails the run."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from tokensync.errors import TokensyncError
from tokensync.jobs.results import JobResult
from tokensync.output.stdout import Document
from tokensync.store import Store

if TYPE_CHECKING:
    from tokensync.output.metrics import StoredState
from tokensync.runtime.deps import Deps


@dataclass(frozen=True)
class Monitoring:
    """The monitors this run tells: each optional."""

    metrics_file: Path | None = None
    ping_url: str | None = None
    step_summary: Path | None = None

    @classmethod
    def of(
        cls, metrics_file: Path | None, ping_url: str | None, environ: Mapping[str, str]
    ) -> Monitoring:
        """The options a job command took, and GITHUB_STEP_SUMMARY when Actions sets it."""
        summary = environ.get("GITHUB_STEP_SUMMARY")
        return cls(metrics_file, ping_url, Path(summary) if summary else None)

    async def started(self, client: httpx.AsyncClient) -> None:
        """Ping /start."""
        if self.ping_url:
            from tokensync.output.ping import ping

            await ping(client, self.ping_url, "start")

    async def finished(self, deps: Deps, result: JobResult, document: Document) -> None:
        """Ping success or failure (with the run's document), and write the metrics file."""
        if self.ping_url and not result.dry_run:
            from tokensync.output.ping import ping

            body = json.dumps(document)
            await ping(deps.http, self.ping_url, "success" if result.success else "fail", body)
        if self.metrics_file is not None:
            await self._write_metrics(deps, result, self.metrics_file)

    def summarise(self, result: JobResult) -> None:
        """Append the step summary, when running under GitHub Actions."""
        if self.step_summary is None:
            return
        from tokensync.output.step_summary import write_step_summary

        try:
            write_step_summary(result, self.step_summary)
        except OSError as exc:
            _warn(f"cannot write the step summary: {exc.strerror}")

    async def _write_metrics(self, deps: Deps, result: JobResult, path: Path) -> None:
        from tokensync.output.metrics import write_metrics

        db = deps.db
        try:
            stored: StoredState | None = await db.call(_stored_state, db.store, deps)
        except TokensyncError:
            stored = None  # the database is away: keep the last known values, not zeros
        try:
            write_metrics(path, result, stored, deps.clock.now())
        except OSError as exc:
            _warn(f"cannot write the metrics file: {exc.strerror}")


def _stored_state(store: Store, deps: Deps) -> StoredState:
    """Connections by platform and status, grants ending, events by status: three indexed
    counts, whatever the tables hold."""
    from tokensync.output.metrics import StoredState

    connections = {(c.platform, c.status): c.count for c in store.status_counts()}
    ends_before = deps.clock.now() + timedelta(seconds=deps.settings.expiring_within)
    ending, _ = store.grant_ends(ends_before, 0)
    events = store.event_counts()
    return StoredState(
        connections=connections,
        grants_ending=ending,
        events={"pending": events.pending, "dead": events.dead},
    )


def _warn(message: str) -> None:
    sys.stderr.write(f"tokensync: {message}\n")
