"""The Markdown summary a GitHub Actions step shows, written when GITHUB_STEP_SUMMARY is set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tokensync.jobs.results import JobResult, PollResult, RefreshResult

MAX_ROWS = 100  # GitHub caps a step summary at 1 MiB
Row = tuple[str, str, str, str, str]  # user, platform, what, code, message


def render_step_summary(result: JobResult) -> str:
    """Counts and a table of failures, in Markdown."""
    verdict = "succeeded" if result.success else "failed"
    lines = [f"### tokensync {result.kind.command} {verdict}", ""]
    if result.dry_run:
        lines += ["Dry run: nothing was claimed or sent.", ""]
    if result.stopped:
        lines += [f"Stopped early: {_cell(result.stopped)}.", ""]
    lines += ["| count | value |", "| --- | --- |"]
    counts = {**result.counts(), "durationMs": result.duration_ms}
    lines += [f"| {name} | {value} |" for name, value in counts.items()]
    if result.error is not None:
        lines += ["", f"**Error:** {_cell(result.error.message)}"]
    failures = list(_failures(result))
    if failures:
        lines += [
            "",
            "| user | platform | what | code | message |",
            "|---|---|---|---|---|",
        ]
        lines += [f"| {' | '.join(_cell(v) for v in row)} |" for row in failures[:MAX_ROWS]]
        if len(failures) > MAX_ROWS:
            lines += ["", f"…and {len(failures) - MAX_ROWS} more failures."]
    elif not result.success and result.error is None:
        lines += ["", "No failures listed: `--results none` leaves them out."]
    return "\n".join(lines) + "\n"


def write_step_summary(result: JobResult, path: Path) -> None:
    """Append the summary to the file GITHUB_STEP_SUMMARY names."""
    with path.open("a", encoding="utf-8") as fh:
        fh.write(render_step_summary(result))


def _failures(result: JobResult) -> Iterator[Row]:
    if isinstance(result, RefreshResult):
        for o in result.outcomes:
            if not o.success:
                conn = o.connection
                yield (
                    conn.user_id,
                    conn.platform,
                    o.status,
                    o.error_code or "",
                    o.error_message or "",
                )
    elif isinstance(result, PollResult):
        for poll in result.polls:
            if poll.success:
                continue
            conn = poll.connection
            for e in poll.endpoints:
                if not e.success:
                    yield (
                        conn.user_id,
                        conn.platform,
                        e.endpoint,
                        e.error_code or "",
                        e.error_message or "",
                    )
            if poll.error_code:
                yield (
                    conn.user_id,
                    conn.platform,
                    "connection",
                    poll.error_code,
                    poll.error_message or "",
                )


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")
