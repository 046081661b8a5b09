"""A small run of the benchmark: it must work end to end and count right (never a time)."""

from __future__ import annotations

from pathlib import Path

import psycopg
from bench import run


def test_the_benchmark_runs_and_counts_right(tmp_path: Path, postgres_url: str) -> None:
    output = tmp_path / "bench.json"
    results = run.main(["--quick", "--database-url", postgres_url, "--output", str(output)])
    assert output.exists()
    (refresh,) = results["refresh"]
    assert refresh["n"] == 200 and refresh["ceilingPerSecond"] > 0
    assert refresh["sequentialSample"] == 5
    assert all(row["splitCorrectly"] for row in results["scaleOut"])
    assert [sum(row["perWorker"]) for row in results["scaleOut"]] == [200, 200]
    assert results["polling"]["connections"] == 60
    # The fetch-and-upsert poller stored what it fetched, and polling is judged against it too.
    assert results["polling"]["upsertPollsPerSecond"] > 0
    assert results["polling"]["ratioToUpsert"] > 0
    assert results["startup"]["versionMs"] > 0


def test_polling_against_another_commit_runs_both_sides(tmp_path: Path, postgres_url: str) -> None:
    """--polling-against: both sides poll every connection (a failed poll fails the bench), in
    both orders, and the ratios are theirs."""
    found = run.main(
        ["--polling-against", "HEAD", "--poll-users", "3", "--repeat", "2"]
        + ["--database-url", postgres_url, "--output", str(tmp_path / "ab.json")]
    )
    assert found["connections"] == 9 and found["against"] == "HEAD"
    assert [r["headFirst"] for r in found["rounds"]] == [1.0, 0.0]
    assert all(r["head"] > 0 and r["base"] > 0 for r in found["rounds"])
    assert all(abs(r["ratio"] - r["head"] / r["base"]) < 1e-3 for r in found["rounds"])


def test_refresh_against_runs_every_revision_each_round(tmp_path: Path, postgres_url: str) -> None:
    """--refresh-against: each revision (a commit, this checkout, this checkout with a variable)
    refreshes every token of its own in every round, in an order that rotates; the provider saw
    no token twice."""
    found = run.main(
        ["--refresh-against", "HEAD,.,.+TOKENSYNC_EVENT_LOOP=asyncio", "--sizes", "30"]
        + ["--repeat", "3", "--database-url", postgres_url, "--output", str(tmp_path / "r.json")]
    )
    assert found["n"] == 30 and found["rounds"] == 3
    revisions = [r["revision"] for r in found["revisions"]]
    head, this, asyncio_loop = revisions
    assert revisions == ["HEAD", ".", ".+TOKENSYNC_EVENT_LOOP=asyncio"]
    assert found["orders"] == [
        [head, this, asyncio_loop],
        [this, asyncio_loop, head],
        [asyncio_loop, head, this],
    ]
    assert all(r["perSecond"] > 0 and r["cpuMsPerToken"] > 0 for r in found["revisions"])
    # the run within its process: faster than the whole process, which also starts and exits
    assert all(r["ratioWithinRun"] > r["ratioToBare"] for r in found["revisions"])
    assert all(r["outsideSeconds"] > 0 for r in found["revisions"])
    assert found["barePerSecond"] > 0


def test_the_discord_guilds_scenario_polls_100_guilds_a_user_at_16(
    tmp_path: Path, postgres_url: str
) -> None:
    """--poll-scenario discord-guilds: Discord connections only, 100 guilds each, 16 in flight,
    judged against the fetch-and-upsert poller of each round, which stored every guild."""
    found = run.main(
        ["--polling-against", "HEAD", "--poll-scenario", "discord-guilds", "--poll-users", "3"]
        + ["--repeat", "2", "--database-url", postgres_url, "--output", str(tmp_path / "d.json")]
    )
    assert (found["scenario"], found["connections"], found["concurrency"]) == (
        "discord-guilds",
        3,
        16,
    )
    assert all(r["upsert"] > 0 for r in found["rounds"])
    assert all(abs(r["headToUpsert"] - r["head"] / r["upsert"]) < 1e-3 for r in found["rounds"])
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT user_id), min(platform), max(platform)"
            " FROM bench_upserted"
        ).fetchone()
    assert row == (300, 3, "discord", "discord")
