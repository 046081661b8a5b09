"""`--metrics-file`: a Prometheus textfile-collector file, written atomically.

Both jobs may write the same file: each run keeps the other job's series (and its own last
success time) from the file it replaces. Dry runs write nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tokensync.jobs.results import JobResult
from tokensync.output.job_views import view_of

HELP = {
    "tokensync_last_run_timestamp_seconds": ("gauge", "When the job last ran (Unix time)."),
    "tokensync_last_success_timestamp_seconds": (
        "gauge",
        "When a run of the job last fully succeeded: nothing failed (Unix time).",
    ),
    "tokensync_last_completed_timestamp_seconds": (
        "gauge",
        "When a run of the job last completed: nothing failed that an operator can act on; "
        "users' dead grants may have (Unix time).",
    ),
    "tokensync_last_run_duration_seconds": ("gauge", "How long the job's last run took."),
    "tokensync_last_run_success": ("gauge", "1 if the job's last run fully succeeded, else 0."),
    "tokensync_last_run_completed": ("gauge", "1 if the job's last run completed, else 0."),
    "tokensync_last_run_items": ("gauge", "Items of the job's last run, by outcome."),
    "tokensync_last_run_platform_items": (
        "gauge",
        "Items of the job's last run, by platform and outcome (refresh: refreshed, failed, "
        "needs_reauth, superseded; poll: polled, failed).",
    ),
    "tokensync_connections_needs_reauth": (
        "gauge",
        "Connections waiting for their user to reconnect, by platform.",
    ),
    "tokensync_connections": ("gauge", "Connections, by platform and status."),
    "tokensync_grants_ending": (
        "gauge",
        "Active connections whose grant ends within expiring_within (their users must reconnect).",
    ),
    "tokensync_events": ("gauge", "Lifecycle events, by status: pending, dead."),
}
_LINE = re.compile(r"^(tokensync_\w+)\{([^}]*)\}\s+(\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_ESCAPED = re.compile(r"\\(.)")
REAUTH = "tokensync_connections_needs_reauth"
# The series that say what the database holds (not what a run did): replaced whole by each run
# that could read them, kept as they were by one that could not.
STORED = (REAUTH, "tokensync_connections", "tokensync_grants_ending", "tokensync_events")

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass(frozen=True)
class StoredState:
    """What the database holds as a run ends: connections by (platform, status), the grants
    ending within expiring_within, events by status."""

    connections: Mapping[tuple[str, str], int]
    grants_ending: int = 0
    events: Mapping[str, int] = field(default_factory=dict)


def write_metrics(path: Path, result: JobResult, stored: StoredState | None, now: datetime) -> None:
    """Merge this run's metrics into the file at `path`, replacing it atomically."""
    if result.dry_run:
        return
    job = result.kind.command
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.parent):
        existing = _read(path)
        series = {
            k: v for k, v in existing.items() if k[0] not in STORED and dict(k[1]).get("job") != job
        }
        series.update(_this_run(existing, job, result, now))
        series.update(_stored(existing, stored))
        _write_atomically(path, _render(series))


def _this_run(existing: Series, job: str, result: JobResult, now: datetime) -> Series:
    stamp = now.timestamp()
    # Whatever --fail-on says: a staleness alert watches `completed`, which users revoking access
    # every day does not hold back; `success` is nothing failed at all.
    series: Series = {
        _key("tokensync_last_run_timestamp_seconds", job=job): stamp,
        _key("tokensync_last_run_success", job=job): float(result.fully_succeeded),
        _key("tokensync_last_run_completed", job=job): float(result.completed),
        _key("tokensync_last_run_duration_seconds", job=job): result.duration_ms / 1000,
    }
    for name, held in (
        ("tokensync_last_success_timestamp_seconds", result.fully_succeeded),
        ("tokensync_last_completed_timestamp_seconds", result.completed),
    ):
        key = _key(name, job=job)
        when = stamp if held else existing.get(key)
        if when is not None:
            series[key] = when
    for outcome, value in view_of(result).items().items():
        series[_key("tokensync_last_run_items", job=job, outcome=outcome)] = float(value)
    for (platform, outcome), value in result.by_platform.items():
        name = "tokensync_last_run_platform_items"
        series[_key(name, job=job, platform=platform, outcome=outcome)] = float(value)
    return series


def _stored(existing: Series, stored: StoredState | None) -> Series:
    """What the database holds now; a series that had a value and has none now reads 0, not
    absent (a platform's last needs_reauth connection reconnected)."""
    previous = {k: v for k, v in existing.items() if k[0] in STORED}
    if stored is None:  # the database could not say: keep what we knew
        return previous
    current = {k: 0.0 for k in previous}
    for (platform, status), n in stored.connections.items():
        current[_key("tokensync_connections", platform=platform, status=status)] = float(n)
        if status == "needs_reauth":
            current[_key(REAUTH, platform=platform)] = float(n)
    current[_key("tokensync_grants_ending")] = float(stored.grants_ending)
    for status, n in stored.events.items():
        current[_key("tokensync_events", status=status)] = float(n)
    return current


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise writers of one directory, so two jobs finishing at once lose no series."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def _read(path: Path) -> Series:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    series: Series = {}
    for line in text.splitlines():
        match = _LINE.match(line.strip())
        if not match or match.group(1) not in HELP:
            continue
        labels = tuple(sorted((k, _unescape(v)) for k, v in _LABEL.findall(match.group(2))))
        with contextlib.suppress(ValueError):
            series[(match.group(1), labels)] = float(match.group(3))
    return series


def _render(series: Series) -> str:
    lines: list[str] = []
    for name, (kind, text) in HELP.items():
        rows = sorted((labels, value) for (n, labels), value in series.items() if n == name)
        if not rows:
            continue
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        for labels, value in rows:
            rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
            lines.append(f"{name}{{{rendered}}} {value!r}")
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _unescape(value: str) -> str:
    return _ESCAPED.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def _write_atomically(path: Path, text: str) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself survive a power cut
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
