"""The metrics file: valid Prometheus text, both jobs side by side, replaced atomically."""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.test_step_summary import conn as stored_connection
from tokensync.jobs.results import JobResult, PollResult, RefreshResult
from tokensync.output import metrics
from tokensync.output.metrics import StoredState, write_metrics
from tokensync.refresh.outcome import Outcome, Refreshed

NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


def reauth(counts: dict[str, int]) -> StoredState:
    """What the database holds: these needs_reauth counts by platform, nothing else."""
    return StoredState(connections={(p, "needs_reauth"): n for p, n in counts.items()})


def refresh_run(
    *, refreshed: int = 3, failed: int = 0, needs_reauth: int = 0, dry_run: bool = False
) -> RefreshResult:
    """A refresh-tokens run that took 1.84 s."""
    return RefreshResult(
        run_id="refresh-test",
        started_at=NOW,
        finished_at=NOW + timedelta(milliseconds=1840),
        dry_run=dry_run,
        checked=refreshed + failed,
        refreshed=refreshed,
        failed=failed,
        needs_reauth=needs_reauth,
    )


def poll_run(*, failed: int = 0) -> PollResult:
    """A poll-platforms run over 12 connections that took 5.12 s."""
    return PollResult(
        run_id="poll-test",
        started_at=NOW,
        finished_at=NOW + timedelta(milliseconds=5120),
        connections=12,
        successful=12 - failed,
        failed=failed,
        fetched=431,
        stored=57,
        deleted=3,
    )


REFRESH = refresh_run()
POLL = poll_run()
REFRESH_JOB = (("job", "refresh-tokens"),)
POLL_JOB = (("job", "poll-platforms"),)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(path: Path) -> tuple[Samples, dict[str, str]]:
    """The file's samples and each family's type, through prometheus_client's own parser."""
    families = list(text_string_to_metric_families(path.read_text()))
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples
    }
    return samples, {f.name: f.type for f in families}


def items(job: str, outcome: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return "tokensync_last_run_items", (("job", job), ("outcome", outcome))


def test_a_refresh_run_writes_every_metric_with_help_and_type(tmp_path: Path) -> None:
    path = tmp_path / "tokensync.prom"
    write_metrics(path, REFRESH, reauth({"discord": 1, "spotify": 0}), NOW)
    got, types = parse(path)
    assert got == {
        ("tokensync_last_run_timestamp_seconds", REFRESH_JOB): NOW.timestamp(),
        ("tokensync_last_success_timestamp_seconds", REFRESH_JOB): NOW.timestamp(),
        ("tokensync_last_completed_timestamp_seconds", REFRESH_JOB): NOW.timestamp(),
        ("tokensync_last_run_duration_seconds", REFRESH_JOB): 1.84,
        ("tokensync_last_run_success", REFRESH_JOB): 1.0,
        ("tokensync_last_run_completed", REFRESH_JOB): 1.0,
        items("refresh-tokens", "checked"): 3,
        items("refresh-tokens", "refreshed"): 3,
        items("refresh-tokens", "failed"): 0,
        items("refresh-tokens", "needs_reauth"): 0,
        ("tokensync_connections_needs_reauth", (("platform", "discord"),)): 1,
        ("tokensync_connections_needs_reauth", (("platform", "spotify"),)): 0,
        ("tokensync_connections", (("platform", "discord"), ("status", "needs_reauth"))): 1,
        ("tokensync_connections", (("platform", "spotify"), ("status", "needs_reauth"))): 0,
        ("tokensync_grants_ending", ()): 0,
    }
    assert set(types.values()) == {"gauge"}
    text = path.read_text()
    for name in types:
        assert f"# HELP {name} " in text and f"# TYPE {name} gauge" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_both_jobs_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "tokensync.prom"
    write_metrics(path, REFRESH, reauth({"discord": 1}), NOW)
    write_metrics(path, POLL, reauth({"discord": 1}), NOW + timedelta(minutes=1))
    write_metrics(path, refresh_run(refreshed=9), reauth({"discord": 2}), NOW + timedelta(2))
    got, _ = parse(path)
    assert got[items("refresh-tokens", "refreshed")] == 9
    assert got[items("poll-platforms", "polls_successful")] == 12
    assert got[items("poll-platforms", "items_fetched")] == 431
    assert got[items("poll-platforms", "items_stored")] == 57
    assert got[items("poll-platforms", "items_deleted")] == 3
    assert got[("tokensync_last_run_duration_seconds", POLL_JOB)] == 5.12
    poll_time = (NOW + timedelta(minutes=1)).timestamp()
    assert got[("tokensync_last_success_timestamp_seconds", POLL_JOB)] == poll_time
    assert got[("tokensync_connections_needs_reauth", (("platform", "discord"),))] == 2
    outcomes = {
        job: {
            dict(labels)["outcome"]
            for name, labels in got
            if name == "tokensync_last_run_items" and ("job", job) in labels
        }
        for job in ("refresh-tokens", "poll-platforms")
    }
    assert outcomes == {
        "refresh-tokens": {"checked", "refreshed", "failed", "needs_reauth"},
        "poll-platforms": {
            "polls_successful",
            "polls_failed",
            "items_fetched",
            "items_stored",
            "items_deleted",
        },
    }


def test_a_failed_run_keeps_the_last_success_time(tmp_path: Path) -> None:
    path = tmp_path / "tokensync.prom"
    write_metrics(path, REFRESH, reauth({}), NOW)
    later = NOW + timedelta(hours=1)
    write_metrics(path, refresh_run(refreshed=2, failed=1, needs_reauth=1), reauth({}), later)
    write_metrics(
        path,
        refresh_run(refreshed=2, failed=1, needs_reauth=1),
        reauth({}),
        later + timedelta(minutes=5),
    )
    got, _ = parse(path)
    assert got[("tokensync_last_success_timestamp_seconds", REFRESH_JOB)] == NOW.timestamp()
    assert (
        got[("tokensync_last_run_timestamp_seconds", REFRESH_JOB)]
        == (later + timedelta(minutes=5)).timestamp()
    )
    assert got[("tokensync_last_run_success", REFRESH_JOB)] == 0


@pytest.mark.parametrize("fail_on", ["any", "operator"])
def test_dead_grants_hold_back_success_but_not_completion(tmp_path: Path, fail_on: str) -> None:
    """Users revoke access every day: a staleness alert on the completed time does not fire for
    that, whatever --fail-on made the exit code; a transient failure holds back both."""
    path = tmp_path / "tokensync.prom"
    write_metrics(path, REFRESH, reauth({}), NOW)
    later = NOW + timedelta(hours=1)
    revoked = replace(refresh_run(refreshed=2, failed=1, needs_reauth=1), fail_on=fail_on)
    write_metrics(path, revoked, reauth({}), later)
    got, _ = parse(path)
    assert got[("tokensync_last_completed_timestamp_seconds", REFRESH_JOB)] == later.timestamp()
    assert got[("tokensync_last_run_completed", REFRESH_JOB)] == 1
    assert got[("tokensync_last_success_timestamp_seconds", REFRESH_JOB)] == NOW.timestamp()
    assert got[("tokensync_last_run_success", REFRESH_JOB)] == 0

    transient = replace(refresh_run(refreshed=2, failed=1), fail_on=fail_on)
    write_metrics(path, transient, reauth({}), later + timedelta(minutes=5))
    got, _ = parse(path)
    assert got[("tokensync_last_completed_timestamp_seconds", REFRESH_JOB)] == later.timestamp()
    assert got[("tokensync_last_run_completed", REFRESH_JOB)] == 0
    assert got[("tokensync_last_success_timestamp_seconds", REFRESH_JOB)] == NOW.timestamp()


def test_a_job_that_never_succeeded_has_no_success_time(tmp_path: Path) -> None:
    path = tmp_path / "tokensync.prom"
    write_metrics(path, poll_run(failed=1), reauth({}), NOW)
    got, _ = parse(path)
    assert ("tokensync_last_success_timestamp_seconds", POLL_JOB) not in got
    assert got[("tokensync_last_run_success", POLL_JOB)] == 0


@pytest.mark.parametrize("content", [b"", b"not prometheus {{{\n", b"\xff\xfe\x00garbage"])
def test_an_unreadable_file_starts_fresh(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "tokensync.prom"
    path.write_bytes(content)
    write_metrics(path, REFRESH, reauth({}), NOW)
    got, _ = parse(path)
    assert got[("tokensync_last_run_success", REFRESH_JOB)] == 1


def test_reauth_counts_drop_to_zero_and_survive_an_unknown(tmp_path: Path) -> None:
    path = tmp_path / "tokensync.prom"
    series = "tokensync_connections_needs_reauth"
    write_metrics(path, REFRESH, reauth({"discord": 3, "github": 1}), NOW)
    # None: the database could not be asked; the last known counts stay.
    write_metrics(path, refresh_run(refreshed=2, failed=1, needs_reauth=1), None, NOW)
    got, _ = parse(path)
    assert got[(series, (("platform", "discord"),))] == 3
    # A platform whose users all reconnected reads 0, so alerts resolve instead of going absent.
    write_metrics(path, REFRESH, reauth({"discord": 1}), NOW)
    got, _ = parse(path)
    assert got[(series, (("platform", "discord"),))] == 1
    assert got[(series, (("platform", "github"),))] == 0


def test_label_values_are_escaped_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "tokensync.prom"
    odd = 'we"ird\\n\nname'
    write_metrics(path, REFRESH, reauth({odd: 4}), NOW)
    write_metrics(path, POLL, None, NOW)  # carried over through the file's own reader
    got, _ = parse(path)
    assert got[("tokensync_connections_needs_reauth", (("platform", odd),))] == 4


def test_a_dry_run_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "tokensync.prom"
    write_metrics(path, refresh_run(dry_run=True), reauth({}), NOW)
    assert not path.exists()


def test_the_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "textfile" / "collector" / "tokensync.prom"
    write_metrics(path, POLL, reauth({}), NOW)
    assert parse(path)[0][("tokensync_last_run_success", POLL_JOB)] == 1


def test_a_failed_write_leaves_the_old_file_whole_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tokensync.prom"
    write_metrics(path, REFRESH, reauth({}), NOW)
    before = path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_metrics(path, POLL, reauth({}), NOW)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["tokensync.prom"]


def test_a_failed_rename_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tokensync.prom"

    def refused(src: str, dst: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refused)
    with pytest.raises(PermissionError):
        write_metrics(path, REFRESH, reauth({}), NOW)
    assert list(tmp_path.iterdir()) == []


def test_a_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "tokensync.prom"
    write_metrics(path, REFRESH, reauth({f"p{i}": i for i in range(200)}), NOW)
    stop = threading.Event()
    seen: list[str] = []

    def read() -> None:
        while not stop.is_set():
            seen.append(path.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(30):
            write_metrics(path, REFRESH, reauth({f"p{j}": i for j in range(200)}), NOW)
    finally:
        stop.set()
        reader.join()
    for text in seen:
        assert text.endswith("\n") and len(list(text_string_to_metric_families(text))) == 10


def test_two_jobs_finishing_at_once_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tokensync.prom"
    read = metrics._read

    def slow_read(p: Path) -> metrics.Series:
        # Widen the read-modify-write window, so unserialised writers would overwrite each other.
        got = read(p)
        time.sleep(0.002)
        return got

    monkeypatch.setattr(metrics, "_read", slow_read)

    def run(result: Callable[[int], JobResult]) -> None:
        for i in range(1, 31):
            write_metrics(path, result(i), reauth({}), NOW)

    def polled(stored: int) -> JobResult:
        return replace(POLL, stored=stored)

    threads = [
        threading.Thread(target=run, args=(lambda i: refresh_run(refreshed=i),)),
        threading.Thread(target=run, args=(polled,)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got, _ = parse(path)
    assert got[items("refresh-tokens", "refreshed")] == 30
    assert got[items("poll-platforms", "items_stored")] == 30


def test_each_platforms_items_and_what_the_database_holds(tmp_path: Path) -> None:
    """By platform and outcome: a platform failing wholesale shows beside one that is fine; the
    connections by status, the grants ending and the events by status, read as the run ended."""
    result = refresh_run(refreshed=0)
    for n, (platform, kind) in enumerate(
        [("discord", Refreshed.REFRESHED), ("spotify", Refreshed.FAILED)] * 2
        + [("spotify", Refreshed.NEEDS_REAUTH)]
    ):
        result.count(Outcome(stored_connection(n, f"u{n}", platform), kind), keep=False)
    stored = StoredState(
        connections={("discord", "active"): 7, ("spotify", "needs_reauth"): 2},
        grants_ending=3,
        events={"pending": 4, "dead": 1},
    )
    path = tmp_path / "tokensync.prom"
    write_metrics(path, result, stored, NOW)
    got, _ = parse(path)

    def platform(name: str, outcome: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        labels = (("job", "refresh-tokens"), ("outcome", outcome), ("platform", name))
        return "tokensync_last_run_platform_items", labels

    assert got[platform("discord", "refreshed")] == 2
    assert got[platform("spotify", "failed")] == 2
    assert got[platform("spotify", "needs_reauth")] == 1
    assert platform("discord", "failed") not in got
    assert got[("tokensync_connections", (("platform", "discord"), ("status", "active")))] == 7
    assert got[("tokensync_connections_needs_reauth", (("platform", "spotify"),))] == 2
    assert got[("tokensync_grants_ending", ())] == 3
    assert got[("tokensync_events", (("status", "dead"),))] == 1
    assert got[("tokensync_events", (("status", "pending"),))] == 4
    # The database away at the next run: what it held is kept, not zeroed.
    write_metrics(path, refresh_run(), None, NOW + timedelta(minutes=5))
    again, _ = parse(path)
    assert again[("tokensync_events", (("status", "dead"),))] == 1
    assert platform("spotify", "failed") not in again  # a run's own series are its own
