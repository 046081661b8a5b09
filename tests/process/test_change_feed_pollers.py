"""The change feed under real pollers, on both engines: overlapping `tokensync poll-platforms
--force` processes poll the loopback platforms (tests/support/platform_data.py) while the test
changes their data at random between and during polls: GitHub repositories added, changed and
removed (a snapshot over several pages, sometimes over several runs), calendar events added,
changed and cancelled, and sync tokens expired (a 410, so a full resync). At the same time a
reader thread runs `tokensync data changes --after ...` in a loop and applies each page to a
mirror. Once the pollers stop and the reader drains, the mirror equals the stored rows (live
items and tombstones) exactly.

The same property with a naive reader, one that orders by the stored position alone (no
horizon), fails on PostgreSQL as soon as a writer's transaction is held open while others
commit: the naive reader moves past the held change, which commits behind it, and never sees it."""

from __future__ import annotations

import json
import random
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.processes import ProviderProcess, finish, running_provider, tokensync, wait_for
from tests.support.support import Cli
from tokensync.store import open_store
from tokensync.store.models import BatchWrite, StoredItem, SyncCursor
from tokensync.store.sqlite import sqlite_path

pytestmark = pytest.mark.slow

USERS = 3
POLLS = 8  # poll-platforms runs an example starts
OVERLAP = 3  # of them running at once, at most
SEEDS = (11, 12, 13)  # the examples each engine runs
Key = tuple[str, str, str, str]
Mirror = dict[Key, Any]
Page = dict[str, Any]
Read = Callable[[str | None], Page]
HELD: Key = ("held", "discord", "user_guilds", "held-1")


def stored_rows(url: str) -> Mirror:
    """Every row of user_platform_data: its data, or ("deleted", reason) for a tombstone."""
    sql = "SELECT user_id, platform, endpoint, item_key, data, deleted_at, deleted_reason"
    sql += " FROM user_platform_data"
    if url.startswith("sqlite"):
        with closing(sqlite3.connect(sqlite_path(url))) as db:
            rows = [(*r[:4], json.loads(r[4]), *r[5:]) for r in db.execute(sql).fetchall()]
    else:
        with psycopg.connect(url) as conn:
            rows = conn.execute(sql).fetchall()
    return {
        (u, p, e, k): data if gone is None else ("deleted", why)
        for u, p, e, k, data, gone, why in rows
    }


def apply(mirror: Mirror, changes: list[dict[str, Any]]) -> None:
    """Apply a page of the feed, as examples/python/mirror_changes.py does."""
    for c in changes:
        key = (c["userId"], c["platform"], c["endpoint"], c["itemKey"])
        mirror[key] = c["data"] if c["op"] == "upsert" else ("deleted", c["deletedReason"])


def feed_reader(env: dict[str, str]) -> Read:
    """A page of `tokensync data changes` after a position."""

    def read(after: str | None) -> Page:
        args = ["data", "changes", "--limit", "7", *(["--after", after] if after else [])]
        code, document, err = finish(tokensync(args, env), timeout=60)
        assert code == 0, err
        page: Page = document
        return page

    return read


def naive_reader(url: str) -> Read:
    """A page as a reader ordered by the stored position alone gets it: no horizon."""
    sql = (
        "SELECT user_id, platform, endpoint, item_key, data, deleted_reason,"
        " CAST(change_txn AS text), id FROM user_platform_data"
        " WHERE (change_txn, id) > (CAST(%s AS xid8), %s) ORDER BY change_txn, id LIMIT 7"
    )

    def read(after: str | None) -> Page:
        txn, row = (after or "0-0").split("-")
        with psycopg.connect(url, autocommit=True) as db:
            rows = db.execute(sql, (txn, int(row))).fetchall()
        changes = [
            {
                "userId": u,
                "platform": p,
                "endpoint": e,
                "itemKey": k,
                "op": "upsert" if why is None else "delete",
                "data": data,
                "deletedReason": why,
                "position": f"{t}-{i}",
            }
            for u, p, e, k, data, why, t, i in rows
        ]
        last = changes[-1]["position"] if changes else after or "0-0"
        return {"changes": changes, "next": last, "hasMore": len(changes) == 7}

    return read


class Reader(threading.Thread):
    """Reads pages in a loop and applies them to its mirror until stopped, then drains."""

    def __init__(self, read: Read) -> None:
        super().__init__(daemon=True)
        self.read, self.mirror, self.after = read, Mirror(), None
        self.pages_with_changes = self.reads = 0
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.page()
            while self.page()["hasMore"]:
                pass
            self.page()  # once more: nothing new
        except BaseException as exc:  # reported by drain(), in the test's thread
            self.error = exc

    def page(self) -> Page:
        page = self.read(self.after)
        apply(self.mirror, page["changes"])
        self.pages_with_changes += bool(page["changes"])
        self.reads += 1
        self.after = page["next"]
        return page

    def drain(self) -> Mirror:
        """Stop reading in a loop, read what is left, return the mirror."""
        self.stopping.set()
        self.join(timeout=300)
        assert not self.is_alive(), "the reader never drained"
        if self.error is not None:
            raise self.error
        return self.mirror


class Platforms:
    """The users' platform data, changed at random by one seeded generator."""

    def __init__(self, provider: ProviderProcess, rng: random.Random) -> None:
        self.provider, self.rng, self.serial = provider, rng, 100
        self.repos: list[dict[int, int]] = [{} for _ in range(USERS)]
        self.events: list[dict[int, int]] = [{} for _ in range(USERS)]
        for user in range(USERS):
            self.change(user, added=5)

    def change(
        self, user: int, *, added: int | None = None, remove: bool = False, expire: bool = False
    ) -> None:
        """Add, change and remove some repositories and events of one user (with `remove`, one
        of each at least); with `expire`, also expire its calendar sync token after removing an
        event, so that only the resync can notice."""
        command: dict[str, Any] = {"user": user, "expire": expire}
        for name, live in (("repos", self.repos[user]), ("events", self.events[user])):
            upsert: dict[int, int] = {}
            for _ in range(self.rng.randint(0, 2) if added is None else added):
                self.serial += 1
                upsert[self.serial] = 1
            for number in self.rng.sample(sorted(live), min(len(live), self.rng.randint(0, 2))):
                upsert[number] = live[number] + 1
            gone = self.rng.sample(sorted(live), min(len(live), self.rng.randint(0, 1)))
            if (remove or (expire and name == "events")) and live and not gone:
                gone = [self.rng.choice(sorted(live))]
            live.update(upsert)
            for number in gone:
                del live[number]
            command[name] = {"upsert": {str(n): v for n, v in upsert.items()}, "remove": gone}
        self.provider.change_data(command)


class Pollers:
    """poll-platforms runs, started and awaited in a random order."""

    def __init__(self, env: dict[str, str], rng: random.Random) -> None:
        self.env, self.rng = env, rng
        self.running: list[Any] = []
        self.started = 0

    def start(self) -> None:
        args = ["poll-platforms", "--force", "--concurrency", "2", "--results", "none"]
        self.running.append(tokensync(args, self.env))
        self.started += 1

    def wait_one(self) -> None:
        process = self.running.pop(self.rng.randrange(len(self.running)))
        code, document, err = finish(process)
        assert code == 0 and document["pollsFailed"] == 0, (document, err)

    def wait_all(self) -> None:
        while self.running:
            self.wait_one()


def schedule(platforms: Platforms, pollers: Pollers, rng: random.Random, polls: int) -> None:
    """Start `polls` runs (at most OVERLAP at once) with data changes in between, in an order
    the generator picks."""
    target = pollers.started + polls
    while pollers.started < target:
        step = rng.choice(("change", "change", "expire", "poll", "poll", "wait"))
        if step in ("change", "expire"):
            platforms.change(rng.randrange(USERS), expire=step == "expire")
        elif step == "poll" and len(pollers.running) < OVERLAP:
            pollers.start()
        elif pollers.running:
            pollers.wait_one()


def finale(platforms: Platforms, pollers: Pollers) -> None:
    """Runs alone, after a removal polled as such and one noticed by a resync, so that every
    kind of tombstone is there, and every pending change polled."""
    for expire in (False, True):
        platforms.change(0, remove=True, expire=expire)
        pollers.start()
        pollers.wait_all()


@pytest.fixture
def polled(
    run_cli: Cli, env: dict[str, str], tmp_path: Path
) -> Iterator[tuple[ProviderProcess, dict[str, str]]]:
    """The loopback platforms, USERS users connected to GitHub and Google Calendar with tokens
    the platforms accept (no refresh needed), and a config polling them as often as asked, at
    most two pages an endpoint a run (so that a snapshot may span runs)."""
    with running_provider("--delay", "0", "--page-size", "3") as provider:
        path = provider.config(
            tmp_path / "feed.toml", calendar=True, poll_interval="0s", max_pages=2
        )
        env = {**env, "TOKENSYNC_CONFIG": str(path)}
        lines = [
            json.dumps(
                {
                    "userId": f"u{user}",
                    "platform": platform,
                    "accessToken": f"bench-at-{user}-feed",
                    "refreshToken": f"RT-{platform}-{user}",
                    "expiresIn": 86400,
                }
            )
            for user in range(USERS)
            for platform in ("github", "google_calendar")
        ]
        imported = run_cli("tokens", "import", stdin="\n".join(lines), extra_env=env)
        assert imported.code == 0, imported.out
        yield provider, env


def check(mirror: Mirror, truth: Mirror) -> None:
    """The mirror is the stored data exactly, and the run covered what it claims to."""
    assert mirror == truth
    reasons = {value[1] for value in truth.values() if isinstance(value, tuple)}
    assert reasons == {"absent_from_snapshot", "deleted_at_source", "absent_after_resync"}
    assert sum(not isinstance(value, tuple) for value in truth.values()) > USERS * 10


@pytest.mark.parametrize("seed", SEEDS)
def test_a_reader_mirrors_overlapping_pollers_exactly(
    polled: tuple[ProviderProcess, dict[str, str]], db_url: str, seed: int
) -> None:
    provider, env = polled
    rng = random.Random(seed)
    platforms, pollers = Platforms(provider, rng), Pollers(env, rng)
    reader = Reader(feed_reader(env))
    reader.start()
    schedule(platforms, pollers, rng, POLLS)
    pollers.wait_all()
    finale(platforms, pollers)
    mirror = reader.drain()
    check(mirror, stored_rows(db_url))
    assert provider.stats()["sync_gone"] >= 1, "a resync happened"
    assert reader.pages_with_changes > 1


@pytest.mark.parametrize("engine", ["postgres"])
def test_a_naive_reader_loses_a_change_held_open_where_the_feed_does_not(
    polled: tuple[ProviderProcess, dict[str, str]], db_url: str
) -> None:
    provider, env = polled
    rng = random.Random(SEEDS[0])
    platforms, pollers = Platforms(provider, rng), Pollers(env, rng)
    feed, naive = Reader(feed_reader(env)), Reader(naive_reader(db_url))
    held = open_store(db_url)
    try:
        with held.transaction():
            # A writer takes its transaction id before every poller, and commits after them.
            item = StoredItem(HELD[3], {"id": HELD[3]})
            batch = BatchWrite([item], SyncCursor(cursor=None, generation=0))
            held.save_batch(*HELD[:3], batch, datetime.now(UTC))
            feed.start()
            naive.start()
            schedule(platforms, pollers, rng, 2)
            pollers.wait_all()
            wait_for(lambda: naive.pages_with_changes > 0, "the naive reader read a poll")
            # The feed's reader reads twice more, from the start of a read after the polls.
            reads = feed.reads
            wait_for(lambda: feed.reads >= reads + 2, "the feed's reader read again")
        schedule(platforms, pollers, rng, POLLS - 2)
        pollers.wait_all()
        finale(platforms, pollers)
    finally:
        held.close()
    truth = stored_rows(db_url)
    assert HELD in truth
    assert feed.drain() == truth
    naive_mirror = naive.drain()
    assert HELD not in naive_mirror and naive_mirror != truth, "the naive reader lost it"
