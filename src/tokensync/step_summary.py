"""The Markdown summary a GitHub Actions step shows, written when GITHUB_STEP_SUMMARY is set."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

TITLES = {"token-refresh": "refresh-tokens", "platform-polling": "poll-platforms"}
COUNTS = {
    "token-refresh": ("tokensChecked", "tokensRefreshed", "tokensFailed", "needsReauth"),
    "platform-polling": (
        "userCount",
        "platformCount",
        "pollsSuccessful",
        "pollsFailed",
        "itemsFetched",
        "itemsStored",
    ),
}
MAX_ROWS = 100  # GitHub caps a step summary at 1 MiB
Row = tuple[object, object, object, object, object]


def render_step_summary(report: Mapping[str, Any]) -> str:
    """Counts and a table of failures, in Markdown."""
    kind = str(report.get("cronType", ""))
    verdict = "succeeded" if report.get("success") else "failed"
    lines = [f"### tokensync {TITLES.get(kind, kind)} {verdict}", ""]
    if report.get("dryRun"):
        lines += ["Dry run: nothing was claimed or sent.", ""]
    if report.get("stopped"):
        lines += [f"Stopped early: {_cell(report['stopped'])}.", ""]
    lines += ["| count | value |", "| --- | --- |"]
    for name in (*COUNTS.get(kind, ()), "durationMs"):
        if name in report:
            lines.append(f"| {name} | {report[name]} |")
    if report.get("error"):
        lines += ["", f"**Error:** {_cell(report['error'].get('message', ''))}"]
    failures = list(_failures(kind, report.get("results") or []))
    if failures:
        lines += [
            "",
            "| user | platform | what | code | message |",
            "|---|---|---|---|---|",
        ]
        lines += [f"| {' | '.join(_cell(v) for v in row)} |" for row in failures[:MAX_ROWS]]
        if len(failures) > MAX_ROWS:
            lines += ["", f"…and {len(failures) - MAX_ROWS} more failures."]
    elif not report.get("success") and not report.get("error"):
        lines += ["", "No failures listed: `--results none` leaves them out."]
    return "\n".join(lines) + "\n"


def write_step_summary(report: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    """Append the summary to the file GITHUB_STEP_SUMMARY names, if any."""
    path = environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(render_step_summary(report))


def _failures(kind: str, results: list[Mapping[str, Any]]) -> Iterator[Row]:
    for result in results:
        if result.get("success"):
            continue
        if kind == "platform-polling":
            for endpoint in result.get("results") or []:
                if not endpoint.get("success"):
                    error = endpoint.get("error") or {}
                    yield (
                        result["userId"],
                        result["platform"],
                        endpoint["endpoint"],
                        error.get("code", ""),
                        error.get("message", ""),
                    )
            if result.get("error"):
                error = result["error"]
                yield (
                    result["userId"],
                    result["platform"],
                    "connection",
                    error.get("code", ""),
                    error.get("message", ""),
                )
        else:
            error = result.get("error") or {}
            yield (
                result["userId"],
                result["platform"],
                result.get("status", ""),
                error.get("code", ""),
                error.get("message", ""),
            )


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")
