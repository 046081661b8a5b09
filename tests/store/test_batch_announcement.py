"""The batch that ends a poll of an endpoint writes the poll's data.changed event in its own
transaction (store/polling.py's Announcement), on both engines: the counts of the whole poll, a
readUpTo past every change of it, no event when nothing changed, and none when the batch itself
is refused. PostgreSQL writes both in one statement (store/postgres.py), except for a batch with
seen or deleted keys, which takes the engines' shared transaction; both kinds are here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tokensync.errors import LeaseLostError
from tokensync.store import Store
from tokensync.store.models import Announcement, BatchCounts, BatchWrite, StoredItem, SyncCursor

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
WHERE = ("u1", "discord", "user_guilds")
CONNECTION = 41


def snapshot(versions: dict[str, int], generation: int) -> BatchWrite:
    """A whole walk in one batch: these guilds; every other live one is swept."""
    return BatchWrite(
        [StoredItem(k, {"id": k, "v": v}) for k, v in versions.items()],
        SyncCursor(generation=generation),
        sweep="absent_from_snapshot",
        walking_from=generation - 1,
    )


def data_events(store: Store) -> list[dict[str, object]]:
    store.publish_events()
    return [e.data for e in store.list_events(after=0, types=["data.changed"])]


def position(text: object) -> tuple[int, int]:
    txn, _, row = str(text).partition("-")
    return int(txn), int(row)


def feed_to_the_end(store: Store) -> tuple[list[tuple[str, str]], tuple[int, int]]:
    """Every change of the feed, as (op, key) with positions; the `next` after the last page."""
    after: str | None = None
    seen: list[tuple[str, str]] = []
    while True:
        page = store.read_changes(after, limit=3)
        seen += [(c.position, c.item_key) for c in page.changes]
        after = page.next
        if not page.has_more:
            return seen, position(after)


def test_the_event_counts_the_whole_poll_and_its_read_up_to_covers_the_last_batch(
    store: Store,
) -> None:
    store.save_batch(*WHERE, snapshot({"g1": 1, "g2": 1}, 1), NOW)
    assert data_events(store) == []  # no announcement asked for
    earlier = BatchCounts(new=4, changed=1)
    counts = store.save_batch(
        *WHERE,
        snapshot({"g1": 2, "g3": 1}, 2),
        NOW + timedelta(minutes=1),
        Announcement(CONNECTION, earlier),
    )
    # g1 changed, g3 is new, g2 left the snapshot.
    assert counts == BatchCounts(new=1, changed=1, deleted=1)
    (event,) = data_events(store)
    assert event == {
        "connectionId": CONNECTION,
        "userId": "u1",
        "platform": "discord",
        "endpoint": "user_guilds",
        "added": 5,
        "updated": 2,
        "deleted": 1,
        "readUpTo": event["readUpTo"],
    }
    changes, end = feed_to_the_end(store)
    upto = position(event["readUpTo"])
    # Every change, the last batch's own included, lies below readUpTo, and a reader reaches it.
    assert sorted(key for _, key in changes) == ["g1", "g2", "g3"]
    assert all(position(at) < upto for at, _ in changes)
    assert end >= upto


def test_an_earlier_batch_changed_something_so_an_unchanged_last_one_announces_it(
    store: Store,
) -> None:
    store.save_batch(*WHERE, snapshot({"g1": 1}, 1), NOW)
    later = NOW + timedelta(minutes=1)
    announce = Announcement(CONNECTION, BatchCounts(changed=3))
    counts = store.save_batch(*WHERE, snapshot({"g1": 1}, 2), later, announce)
    assert counts == BatchCounts()
    (event,) = data_events(store)
    assert (event["added"], event["updated"], event["deleted"]) == (0, 3, 0)


def test_a_poll_that_changed_nothing_writes_no_event(store: Store) -> None:
    store.save_batch(*WHERE, snapshot({"g1": 1}, 1), NOW)
    later = NOW + timedelta(minutes=1)
    store.save_batch(*WHERE, snapshot({"g1": 1}, 2), later, Announcement(CONNECTION))
    plain = BatchWrite([StoredItem("g1", {"id": "g1", "v": 1})], SyncCursor(generation=2))
    store.save_batch(*WHERE, plain, later, Announcement(CONNECTION))
    assert data_events(store) == []


def test_a_refused_batch_writes_neither_its_items_nor_the_event(store: Store) -> None:
    store.save_batch(*WHERE, snapshot({"g1": 1}, 1), NOW)
    store.save_batch(*WHERE, snapshot({"g1": 1}, 2), NOW)  # another run's walk moved on
    stale = snapshot({"g1": 9, "g2": 1}, 2)  # this run still walks from generation 1
    with pytest.raises(LeaseLostError):
        store.save_batch(*WHERE, stale, NOW, Announcement(CONNECTION, BatchCounts(new=2)))
    assert data_events(store) == []
    assert [key for _, key in feed_to_the_end(store)[0]] == ["g1"]
    assert store.stored_data(*WHERE, ["g1", "g2"]) == {"g1": {"id": "g1", "v": 1}}


@pytest.mark.parametrize("kind", ["cursor", "deleted"])
def test_batches_outside_a_walk_announce_too(store: Store, kind: str) -> None:
    """A page of an incremental endpoint (PostgreSQL: one statement), and one with keys deleted
    at the source (a transaction of several statements on both engines)."""
    store.save_batch(*WHERE, snapshot({"g1": 1, "g2": 1}, 1), NOW)
    items = [StoredItem("g3", {"id": "g3", "v": 1})]
    deleted = ["g2"] if kind == "deleted" else []
    batch = BatchWrite(items, SyncCursor(cursor="c2", generation=1), deleted=deleted)
    counts = store.save_batch(*WHERE, batch, NOW, Announcement(CONNECTION))
    assert counts == BatchCounts(new=1, deleted=len(deleted))
    (event,) = data_events(store)
    assert (event["added"], event["updated"], event["deleted"]) == (1, 0, len(deleted))
    changes, end = feed_to_the_end(store)
    upto = position(event["readUpTo"])
    assert all(position(at) < upto for at, _ in changes) and end >= upto
    assert store.sync_states("u1", "discord")["user_guilds"].cursor == "c2"
