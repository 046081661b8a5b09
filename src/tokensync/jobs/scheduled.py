"""The job an options object is for: the one place that maps a job's options to its run."""

from __future__ import annotations

from tokensync.jobs.options import JobOptions, PollOptions, RefreshOptions
from tokensync.jobs.poll_platforms import run_poll
from tokensync.jobs.refresh_tokens import run_refresh
from tokensync.jobs.results import JobResult
from tokensync.runtime.deps import Deps


async def run_scheduled(deps: Deps, options: JobOptions) -> JobResult:
    """Run refresh-tokens or poll-platforms, as `options` say."""
    if isinstance(options, RefreshOptions):
        return await run_refresh(deps, options)
    if isinstance(options, PollOptions):
        return await run_poll(deps, options)
    raise TypeError(f"no job takes {type(options).__name__}")
