"""A small run of the benchmark: it must work end to end and count right (never a time)."""

from __future__ import annotations

from pathlib import Path

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
    assert results["startup"]["versionMs"] > 0
