"""The GitHub step summary: a heading, the counts, a table of failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tokensync.step_summary import render_step_summary, write_step_summary

REFRESH: dict[str, Any] = {
    "success": False,
    "cronType": "token-refresh",
    "timestamp": "2026-11-28T14:07:30Z",
    "durationMs": 1840,
    "tokensChecked": 3,
    "tokensRefreshed": 2,
    "tokensFailed": 1,
    "needsReauth": 1,
    "results": [
        {
            "platform": "spotify",
            "userId": "u_1",
            "success": True,
            "newExpiry": "2026-11-28T15:07:30Z",
            "rotated": True,
        },
        {
            "platform": "discord",
            "userId": "u_2",
            "success": False,
            "status": "needs_reauth",
            "error": {"code": "invalid_grant", "message": "revoked | by the user\nfor good"},
        },
    ],
}
POLL: dict[str, Any] = {
    "success": False,
    "cronType": "platform-polling",
    "timestamp": "2026-11-28T14:30:00Z",
    "durationMs": 5120,
    "userCount": 5,
    "platformCount": 12,
    "pollsSuccessful": 11,
    "pollsFailed": 1,
    "itemsFetched": 431,
    "itemsStored": 57,
    "results": [
        {
            "userId": "u_1",
            "platform": "spotify",
            "success": True,
            "results": [
                {"endpoint": "recently_played", "success": True, "itemCount": 50, "newItems": 7}
            ],
        },
        {
            "userId": "u_3",
            "platform": "github",
            "success": False,
            "results": [
                {"endpoint": "repos", "success": True, "itemCount": 4, "newItems": 0},
                {
                    "endpoint": "events",
                    "success": False,
                    "itemCount": 0,
                    "newItems": 0,
                    "error": {"code": "rate_limited", "message": "slow down"},
                },
            ],
        },
    ],
}


def table_rows(text: str, header: str) -> list[str]:
    """The rows of the Markdown table whose header line is `header`."""
    lines = text.splitlines()
    start = lines.index(header) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


FAILURES = "| user | platform | what | code | message |"


def test_refresh_summary_has_heading_counts_and_escaped_failures() -> None:
    text = render_step_summary(REFRESH)
    assert text.splitlines()[0] == "### tokensync refresh-tokens failed"
    counts = table_rows(text, "| count | value |")
    assert counts == [
        "| tokensChecked | 3 |",
        "| tokensRefreshed | 2 |",
        "| tokensFailed | 1 |",
        "| needsReauth | 1 |",
        "| durationMs | 1840 |",
    ]
    assert table_rows(text, FAILURES) == [
        "| u_2 | discord | needs_reauth | invalid_grant | revoked \\| by the user for good |"
    ]


def test_polling_summary_lists_failed_endpoints_only() -> None:
    text = render_step_summary(POLL)
    assert text.startswith("### tokensync poll-platforms failed\n")
    assert "| itemsStored | 57 |" in table_rows(text, "| count | value |")
    assert table_rows(text, FAILURES) == ["| u_3 | github | events | rate_limited | slow down |"]


def test_a_clean_run_has_no_failure_table() -> None:
    text = render_step_summary({**REFRESH, "success": True, "tokensFailed": 0, "results": []})
    assert text.startswith("### tokensync refresh-tokens succeeded")
    assert FAILURES not in text


def test_a_run_that_failed_as_a_whole_shows_its_error() -> None:
    doc = {
        "success": False,
        "cronType": "token-refresh",
        "error": {"code": "storage", "message": "database unreachable | try later"},
    }
    text = render_step_summary(doc)
    assert "**Error:** database unreachable \\| try later" in text


def test_failures_left_out_by_results_none_are_explained() -> None:
    text = render_step_summary({**REFRESH, "results": []})
    assert FAILURES not in text and "--results none" in text


def test_many_failures_are_capped() -> None:
    failure = REFRESH["results"][1]
    text = render_step_summary({**REFRESH, "results": [failure] * 250})
    assert len(table_rows(text, FAILURES)) == 100
    assert "…and 150 more failures." in text


def test_dry_runs_and_stopped_runs_say_so() -> None:
    text = render_step_summary({**POLL, "dryRun": True, "stopped": "max_duration"})
    assert "Dry run" in text and "Stopped early: max_duration." in text


def test_written_only_when_github_names_a_file(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    write_step_summary(REFRESH, {})
    assert not summary.exists()
    summary.write_text("earlier step\n")
    write_step_summary(REFRESH, {"GITHUB_STEP_SUMMARY": str(summary)})
    write_step_summary(POLL, {"GITHUB_STEP_SUMMARY": str(summary)})
    text = summary.read_text()
    assert text.startswith("earlier step\n### tokensync refresh-tokens failed")
    assert "### tokensync poll-platforms failed" in text
