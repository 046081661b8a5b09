"""The Markdown summary a GitHub Actions step shows, written when GITHUB_STEP_SUMMARY is set."""

from __future__ import annotations

from pathlib import Path

from tokensync.jobs.results import JobResult
from tokensync.output.job_views import view_of

MAX_ROWS = 100  # GitHub caps a step summary at 1 MiB


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
    failures = list(view_of(result).failures())
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


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")
