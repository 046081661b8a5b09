"""`python bench/run.py --refresh-against REV1,REV2,...`: refresh-tokens of several commits side
by side ("." is this checkout as it is; `REV+NAME=VALUE` runs REV with that environment variable,
e.g. `.+TOKENSYNC_EVENT_LOOP=asyncio`), N due tokens each (--sizes, the first), on databases of
their own in one PostgreSQL, the same provider stand-in. Every round runs each commit once, in an
order that rotates from round to round, and the bare aiohttp client once as the yardstick of
that round. Reports each commit's refreshes/s, its ratio to the bare client and its CPU a token
(median over the rounds): the before and after of each change, measured in one run. The ratio
within the run (the run's own durationMs against the bare client) and the seconds the process
spends outside it (start-up before the run, exit after) tell the two costs apart.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import psycopg
from tests.support.processes import ProviderProcess

from bench.run import Database, bare_refreshes, discord_records, run_tokensync, seed
from bench.trees import source_trees

Row = dict[str, Any]


def measure(
    admin: Database,
    provider: ProviderProcess,
    env: dict[str, str],
    spec: str,
    args: argparse.Namespace,
) -> Row:
    """Each revision of `spec` (comma-separated), `args.repeat` rounds."""
    revisions = [r.strip() for r in spec.split(",") if r.strip()]
    n = args.sizes[0] if args.sizes else 3000
    command = ["refresh-tokens", "--concurrency", str(args.concurrency), "--results", "none"]
    commits = {rev: rev.partition("+")[0] for rev in revisions}
    with source_trees(sorted(set(commits.values()))) as trees:
        sides: dict[str, tuple[dict[str, str], Database]] = {}
        for i, rev in enumerate(revisions):
            name = f"bench_rev{i}_{os.getpid()}"
            with psycopg.connect(admin.url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name}")
                conn.execute(f"CREATE DATABASE {name}")
            data = Path(env["TOKENSYNC_DATA_DIR"]) / name
            data.mkdir()
            variable, _, value = rev.partition("+")[2].partition("=")
            side_env = {
                **env,
                **({variable: value} if variable else {}),
                "PYTHONPATH": str(trees[commits[rev]]),
                "TOKENSYNC_DATABASE_URL": admin.url.rsplit("/", 1)[0] + f"/{name}",
                "TOKENSYNC_DATA_DIR": str(data),
            }
            seed(side_env, provider, discord_records(f"rev{i}u", n))
            sides[rev] = (side_env, Database(side_env["TOKENSYNC_DATABASE_URL"]))
        ceiling_tokens = [f"against-ceil-{i}" for i in range(n)]
        provider.add_grants(ceiling_tokens)
        # A round of each, not counted: a fresh database's first run is slower than later ones.
        for side_env, db in sides.values():
            db.expire_all()
            run_tokensync(command, side_env)
        rounds: list[Row] = []
        for r in range(args.repeat):
            bare = asyncio.run(bare_refreshes(provider.url, ceiling_tokens, args.concurrency))
            shift = r % len(revisions)
            order = revisions[shift:] + revisions[:shift]
            got: Row = {"bare": bare, "order": order}
            for rev in order:
                side_env, db = sides[rev]
                db.expire_all()
                ran = run_tokensync(command, side_env)
                assert ran.document["tokensRefreshed"] == n, ran.document
                within = ran.document["durationMs"] / 1000
                got[rev] = {
                    "perSecond": n / ran.wall,
                    "cpuMsPerToken": ran.cpu * 1000 / n,
                    # the run itself (its durationMs), and the process around it: start-up, exit
                    "perSecondWithin": n / within,
                    "outsideSeconds": ran.wall - within,
                }
            rounds.append(got)
            shown = ", ".join(f"{rev} {got[rev]['perSecond'] / bare:.3f}" for rev in revisions)
            print(f"round {r + 1}: bare {bare:.1f}/s; ratios {shown}", file=sys.stderr)
    stats = provider.stats()
    assert stats["reused_tokens"] == 0 and stats["revoked_grants"] == 0, stats
    bare = statistics.median(r["bare"] for r in rounds)
    result: Row = {
        "n": n,
        "rounds": len(rounds),
        "orders": [r["order"] for r in rounds],
        "barePerSecond": round(bare, 1),
        "revisions": [],
    }
    for rev in revisions:
        rates = [r[rev]["perSecond"] for r in rounds]
        result["revisions"].append(
            {
                "revision": rev,
                "perSecond": round(statistics.median(rates), 1),
                # each round's rate against that round's bare client, then the median
                "ratioToBare": round(
                    statistics.median(x / r["bare"] for x, r in zip(rates, rounds, strict=True)), 3
                ),
                "cpuMsPerToken": round(
                    statistics.median(r[rev]["cpuMsPerToken"] for r in rounds), 3
                ),
                "ratioWithinRun": round(
                    statistics.median(r[rev]["perSecondWithin"] / r["bare"] for r in rounds), 3
                ),
                "outsideSeconds": round(
                    statistics.median(r[rev]["outsideSeconds"] for r in rounds), 3
                ),
            }
        )
    return result


def table(result: Row) -> str:
    lines = [
        f"refresh-tokens, N = {result['n']}, median of {result['rounds']} rounds "
        f"(bare aiohttp client {result['barePerSecond']}/s)",
        "",
        "| revision | refreshes/s | ratio to the bare client | CPU ms a token "
        "| ratio within the run | s outside the run |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["revisions"]:
        lines.append(
            f"| {r['revision']} | {r['perSecond']} | {r['ratioToBare']} | {r['cpuMsPerToken']} "
            f"| {r['ratioWithinRun']} | {r['outsideSeconds']} |"
        )
    return "\n".join(lines)
