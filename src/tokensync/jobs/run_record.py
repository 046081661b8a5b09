"""The runs table: a job run is recorded as started when it begins and with its result at the end.

A dry run is not recorded. A run that dies of a bug is recorded as failed (`internal_error`),
never left looking as if it were still running.
"""

from __future__ import annotations

import logging
import uuid
from types import TracebackType

from tokensync.errors import EXIT_FAILURES, TokensyncError
from tokensync.jobs.results import JobResult
from tokensync.runtime.deps import Deps

log = logging.getLogger("tokensync")


def new_run_id(command: str) -> str:
    """A unique name for a run of `command`, also the owner of the leases it takes."""
    return f"{command.split('-')[0]}-{uuid.uuid4().hex[:12]}"


def run_summary(result: JobResult) -> dict[str, object]:
    """What the runs table keeps of a run: its counts, duration, why it stopped, its error."""
    summary: dict[str, object] = {**result.counts(), "durationMs": result.duration_ms}
    if result.stopped:
        summary["stopped"] = result.stopped
    if result.error is not None:
        summary["error"] = {"code": result.error.code, "message": result.error.message}
    return summary


class RunRecorder:
    """`async with RunRecorder(deps, result, record=...)` around the run that fills `result`."""

    def __init__(self, deps: Deps, result: JobResult, *, record: bool) -> None:
        self._deps, self._result, self._record = deps, result, record

    async def __aenter__(self) -> RunRecorder:
        if self._record:
            db = self._deps.db
            started = self._result.started_at
            await db.call(
                db.store.start_run, self._result.run_id, self._result.kind.command, started
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._record:
            return
        result = self._result
        if exc is None:
            success, code, summary = result.success, result.exit_code, run_summary(result)
        else:
            error = {"code": "internal_error", "message": f"unexpected {type(exc).__name__}"}
            success, code, summary = False, EXIT_FAILURES, {"error": error}
        db = self._deps.db
        try:
            await db.call(
                db.store.finish_run,
                result.run_id,
                finished_at=result.finished_at or self._deps.clock.now(),
                success=success,
                exit_code=code,
                summary=summary,
            )
        except TokensyncError as failure:
            log.warning("could not record the run: %s", failure.message)
