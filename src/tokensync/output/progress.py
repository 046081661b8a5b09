"""What a run shows on stderr: a progress bar on a terminal, a log line per item with -v."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator

from tokensync.runtime.reportable import Reportable


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
            TextColumn("{task.fields[ok]} succeeded, {task.fields[failed]} failed"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        task = bar.add_task(job, total=None, ok=0, failed=0)
        bar.start()
    ok = failed = 0

    def report(outcome: Reportable) -> None:
        nonlocal ok, failed
        ok += outcome.success
        failed += not outcome.success
        if bar is not None:
            bar.update(task, advance=1, ok=ok, failed=failed)
        if verbose:
            log_line(job, **outcome.log_fields())

    try:
        yield report
    finally:
        if bar is not None:
            bar.stop()


@contextlib.contextmanager
def counter(what: str, every: int = 1000) -> Iterator[Callable[[int], None]]:
    """A callback given a count so far (rows imported, tokens re-encrypted): on a terminal, a
    spinner with the count on stderr, redrawn every `every` rows; elsewhere nothing."""
    if not sys.stderr.isatty():
        yield _ignore
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}: {task.completed}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(what, total=None)

    def update(count: int) -> None:
        if count % every == 0:
            bar.update(task, completed=count)

    with bar:
        yield update


def _ignore(count: int) -> None:
    """The counter off a terminal."""
