"""The GitHub step summary: a heading, the counts, a table of failures (a real run's:
tests/cli/test_step_summary_cli.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tokensync.errors import StorageError
from tokensync.jobs.results import ConnectionPoll, EndpointResult, PollResult, RefreshResult
from tokensync.output.monitoring import Monitoring
from tokensync.output.step_summary import render_step_summary
from tokensync.refresh.outcome import Outcome, Refreshed
from tokensync.store import Connection

STARTED = datetime(2026, 11, 28, 14, 7, 30, tzinfo=UTC)


def conn(cid: int, user: str, platform: str) -> Connection:
    """A stored connection (ciphertexts elided: the summary never shows them)."""
    return Connection(
        id=cid,
        user_id=user,
        platform=platform,
        access_token_enc="",
        refresh_token_enc=None,
        token_type="Bearer",
        scope=None,
        expires_at=None,
        status="active",
        tokens_updated_at=STARTED,
        last_refreshed_at=None,
        last_error_code=None,
        last_error_message=None,
        failure_count=0,
        next_attempt_at=None,
        lease_owner=None,
        lease_expires_at=None,
        last_sync_at=None,
        created_at=STARTED,
        updated_at=STARTED,
    )


DEAD = Outcome(
    conn(2, "u_2", "discord"),
    Refreshed.NEEDS_REAUTH,
    error_code="invalid_grant",
    error_message="revoked | by the user\nfor good",
)


def refresh_run(
    outcomes: list[Outcome], *, failed: int = 1, error: StorageError | None = None
) -> RefreshResult:
    """A refresh-tokens run of three tokens that took 1.84 s."""
    return RefreshResult(
        run_id="refresh-test",
        started_at=STARTED,
        finished_at=STARTED + timedelta(milliseconds=1840),
        checked=3,
        refreshed=3 - failed,
        failed=failed,
        needs_reauth=failed,
        outcomes=outcomes,
        error=error,
    )


REFRESH = refresh_run(
    [Outcome(conn(1, "u_1", "spotify"), Refreshed.REFRESHED, STARTED, rotated=True), DEAD]
)
POLL = PollResult(
    run_id="poll-test",
    started_at=STARTED,
    finished_at=STARTED + timedelta(milliseconds=5120),
    users={"u_1", "u_2", "u_3", "u_4", "u_5"},
    connections=12,
    successful=11,
    failed=1,
    fetched=431,
    stored=57,
    polls=[
        ConnectionPoll(
            conn(1, "u_1", "spotify"), [EndpointResult("recently_played", True, 50, 7, 7)]
        ),
        ConnectionPoll(
            conn(3, "u_3", "github"),
            [
                EndpointResult("repos", True, 4, 0, 0),
                EndpointResult(
                    "events", False, error_code="rate_limited", error_message="slow down"
                ),
            ],
        ),
    ],
)


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
        "| tokensSuperseded | 0 |",
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
    text = render_step_summary(refresh_run([], failed=0))
    assert text.startswith("### tokensync refresh-tokens succeeded")
    assert FAILURES not in text


def test_a_run_that_failed_as_a_whole_shows_its_error() -> None:
    error = StorageError("database unreachable | try later", code="storage")
    text = render_step_summary(refresh_run([], failed=0, error=error))
    assert "**Error:** database unreachable \\| try later" in text


def test_failures_left_out_by_results_none_are_explained() -> None:
    text = render_step_summary(refresh_run([]))
    assert FAILURES not in text and "--results none" in text


def test_many_failures_are_capped() -> None:
    text = render_step_summary(refresh_run([DEAD] * 250))
    assert len(table_rows(text, FAILURES)) == 100
    assert "…and 150 more failures." in text


def test_dry_runs_and_stopped_runs_say_so() -> None:
    text = render_step_summary(replace(POLL, dry_run=True, stopped="max_duration"))
    assert "Dry run" in text and "Stopped early: max_duration." in text


def test_written_only_when_github_names_a_file(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    Monitoring.of(None, None, {}).summarise(REFRESH)
    assert not summary.exists()
    summary.write_text("earlier step\n")
    under_actions = Monitoring.of(None, None, {"GITHUB_STEP_SUMMARY": str(summary)})
    under_actions.summarise(REFRESH)
    under_actions.summarise(POLL)
    text = summary.read_text()
    assert text.startswith("earlier step\n### tokensync refresh-tokens failed")
    assert "### tokensync poll-platforms failed" in text
