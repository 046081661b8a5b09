"""What a run shows on stderr: a progress bar on a terminal, a log line per item with -v."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator

from tokensync.jobs.results import Reportable


def log_line(event: str, **fields: object) -> None:
    """One structured log line on stderr (JSON); callers pass ids and codes, never secrets."""
    record = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": event, **fields}
    sys.stderr.write(json.dumps(record, default=str) + "\n")


@contextlib.contextmanager
def outcome_reporter(job: str, verbose: int) -> Iterator[Callable[[Reportable], None]]:
    """A callback to hand each outcome to: it logs and advances the progress bar."""
    bar = None
    if sys.stderr.isatty() and not verbose:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.completed} done, {task.fields[failed]} failed"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        task = bar.add_task(job, total=None, failed=0)
        bar.start()
    failed = 0

    def report(outcome: Reportable) -> None:
        nonlocal failed
        failed += not outcome.success
        if bar is not None:
            bar.update(task, advance=1, failed=failed)
        if verbose:
            log_line(job, **outcome.log_fields())

    try:
        yield report
    finally:
        if bar is not None:
            bar.stop()
