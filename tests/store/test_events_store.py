"""The outbox, on both engines: each event is written in the transaction of the change it reports
(none without its change, no change without its event), by the store call that makes the change;
time-made events once a streak or an end; a user's events leased one at a time, in order."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tokensync.store import Filters, NewTokens, Store
from tokensync.store.models import NewEvent, StoredEvent

NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def tokens(user: str, *, grant_ends: datetime | None = None) -> NewTokens:
    return NewTokens(
        user,
        "discord",
        f"enc-a-{user}",
        f"enc-r-{user}",
        "Bearer",
        None,
        NOW + timedelta(minutes=5),
        refresh_token_expires_at=grant_ends,
    )


def events(store: Store) -> list[StoredEvent]:
    store.publish_events()
    return store.list_events(after=0)


def leased(store: Store, user: str, owner: str = "run-1", now: datetime = NOW) -> int:
    (conn,) = store.iter_connections(Filters(users=(user,)))
    assert store.claim_one(conn.id, owner, now=now, lease_until=now + LEASE) is not None
    return conn.id


def generation(store: Store, conn_id: int) -> int:
    """The grant a connection holds now."""
    conn = store.get_connection(conn_id)
    assert conn is not None
    return conn.grant_generation


def kill(store: Store, user: str, now: datetime = NOW) -> int:
    conn_id = leased(store, user, now=now)
    assert store.mark_needs_reauth(
        conn_id,
        "run-1",
        refresh_token_enc=f"enc-r-{user}",
        code="invalid_grant",
        message="refresh token revoked",
        now=now,
        grant_generation=generation(store, conn_id),
    )
    return conn_id


def assert_tokenless(found: list[StoredEvent]) -> None:
    for event in found:
        assert "enc-a-" not in repr(event) and "enc-r-" not in repr(event)


def test_a_dead_grant_and_its_event_commit_together(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.upsert_connections([tokens("u1"), tokens("u2")], NOW)
    conn_id = kill(store, "u1")
    (event,) = events(store)
    assert (event.type, event.user_id, event.connection_id) == (
        "connection.needs_reauth",
        "u1",
        conn_id,
    )
    assert event.data == {
        "connectionId": conn_id,
        "userId": "u1",
        "platform": "discord",
        "error": {"code": "invalid_grant", "message": "refresh token revoked"},
    }
    assert event.status == "pending" and event.created_at == NOW

    # A failure writing the event undoes the change: no dead grant goes unannounced.
    other = leased(store, "u2")

    def broken(event: NewEvent, now: datetime) -> str:
        raise RuntimeError("the outbox is full")

    monkeypatch.setattr(store, "_emit", broken)
    with pytest.raises(RuntimeError):
        store.mark_needs_reauth(
            other,
            "run-1",
            refresh_token_enc="enc-r-u2",
            code="invalid_grant",
            message="x",
            now=NOW,
            grant_generation=1,
        )
    monkeypatch.undo()
    (u2,) = store.iter_connections(Filters(users=("u2",)))
    assert u2.status == "active"
    assert len(events(store)) == 1

    # A refresh token rotated meanwhile: nothing is marked, so nothing is said.
    assert not store.mark_needs_reauth(
        other,
        "run-1",
        refresh_token_enc="enc-r-stale",
        code="invalid_grant",
        message="x",
        now=NOW,
        grant_generation=1,
    )
    assert len(events(store)) == 1
    assert_tokenless(events(store))


def test_connecting_a_dead_grant_again_says_recovered_once(store: Store) -> None:
    store.upsert_connections([tokens("u1")], NOW)
    store.upsert_connections([tokens("u1")], NOW + timedelta(minutes=1))
    assert events(store) == [], "replacing an active grant is no recovery"
    conn_id = kill(store, "u1")
    store.upsert_connections([tokens("u1")], NOW + timedelta(hours=1))
    store.upsert_connections([tokens("u1")], NOW + timedelta(hours=2))
    assert [(e.type, e.seq) for e in events(store)] == [
        ("connection.needs_reauth", 1),
        ("connection.recovered", 2),
    ]
    recovered = events(store)[1]
    assert recovered.data == {
        "connectionId": conn_id,
        "userId": "u1",
        "platform": "discord",
        "previousStatus": "needs_reauth",
    }


def test_a_failure_streak_is_announced_once_past_failing_after(store: Store) -> None:
    store.upsert_connections([tokens("u1")], NOW)

    def fail(at: datetime) -> None:
        conn_id = leased(store, "u1", now=at)
        store.record_failure(
            conn_id,
            "run-1",
            code="transient",
            message="HTTP 503",
            next_attempt_at=at + timedelta(hours=1),
            now=at,
            grant_generation=1,
        )

    def announce(at: datetime) -> int:
        return store.notice_failing(failing_before=at - timedelta(hours=6), now=at, limit=10)

    fail(NOW)
    fail(NOW + timedelta(hours=3))
    assert announce(NOW + timedelta(hours=5)) == 0, "not yet six hours"
    fail(NOW + timedelta(hours=6))
    assert announce(NOW + timedelta(hours=6, seconds=1)) == 1
    assert announce(NOW + timedelta(hours=9)) == 0, "once a streak"
    (event,) = events(store)
    assert event.type == "connection.failing"
    assert event.data["failingSince"] == "2026-11-28T14:00:00Z"
    assert event.data["failures"] == 3
    assert event.data["error"] == {"code": "transient", "message": "HTTP 503"}

    # A success ends the streak; the next one is announced again, from its own start.
    conn_id = leased(store, "u1", now=NOW + timedelta(hours=10))
    assert store.save_refreshed(
        conn_id,
        "run-1",
        access_token_enc="enc-a-u1-2",
        refresh_token_enc=None,
        previous_refresh_enc="enc-r-u1",
        expires_at=NOW + timedelta(hours=11),
        now=NOW + timedelta(hours=10),
        grant_generation=1,
    )
    later = NOW + timedelta(days=1)
    fail(later)
    assert announce(later + timedelta(hours=5)) == 0
    assert announce(later + timedelta(hours=6)) == 1
    assert [e.data["failingSince"] for e in events(store)] == [
        "2026-11-28T14:00:00Z",
        "2026-11-29T14:00:00Z",
    ]


def test_a_grant_end_is_announced_once_an_end(store: Store) -> None:
    ends = NOW + timedelta(days=10)
    store.upsert_connections([tokens("u1", grant_ends=ends), tokens("u2")], NOW)

    def announce(at: datetime) -> int:
        return store.notice_expiring(ends_before=at + timedelta(days=7), now=at, limit=10)

    assert announce(NOW) == 0, "ten days away"
    assert announce(NOW + timedelta(days=3, seconds=1)) == 1
    assert announce(NOW + timedelta(days=4)) == 0, "once an end"
    (event,) = events(store)
    assert event.type == "connection.expiring"
    assert event.data["grantEndsAt"] == "2026-12-08T14:00:00Z"

    # A refresh that reports a new end (GitHub's refresh_token_expires_in) is a new end.
    conn_id = leased(store, "u1", now=NOW + timedelta(days=4))
    assert store.save_refreshed(
        conn_id,
        "run-1",
        access_token_enc="enc-a-u1-2",
        refresh_token_enc="enc-r-u1-2",
        previous_refresh_enc="enc-r-u1",
        expires_at=NOW + timedelta(days=4, hours=8),
        now=NOW + timedelta(days=4),
        refresh_token_expires_at=NOW + timedelta(days=20),
        grant_generation=1,
    )
    assert announce(NOW + timedelta(days=5)) == 0
    assert announce(NOW + timedelta(days=13, seconds=1)) == 1
    assert [e.data["grantEndsAt"] for e in events(store)] == [
        "2026-12-08T14:00:00Z",
        "2026-12-18T14:00:00Z",
    ]
    assert store.grant_ends(NOW + timedelta(days=30), 10)[0] == 1


def test_a_disconnect_says_so_in_its_transaction(store: Store) -> None:
    store.upsert_connections([tokens("u1")], NOW)
    conn_id = leased(store, "u1")
    (conn,) = store.iter_connections(Filters(users=("u1",)))
    conn = replace(conn, lease_owner="run-1")
    deleted = store.delete_connection(conn, "run-1", items="tombstone", revoked=True, now=NOW)
    assert deleted is not None and deleted["connections"] == 1
    (event,) = events(store)
    assert event.type == "connection.disconnected"
    assert event.data == {
        "connectionId": conn_id,
        "userId": "u1",
        "platform": "discord",
        "revoked": True,
    }
    assert_tokenless([event])


def test_a_users_events_are_leased_one_at_a_time_in_order(store: Store) -> None:
    store.upsert_connections([tokens("u1"), tokens("u2")], NOW)
    kill(store, "u1")
    store.upsert_connections([tokens("u1")], NOW)  # u1: needs_reauth, then recovered
    kill(store, "u2")
    store.publish_events()

    def heads(owner: str) -> list[tuple[str | None, str]]:
        found = store.claim_event_heads(owner, now=NOW, lease_until=NOW + LEASE, limit=10)
        return [(e.user_id, e.type) for e in found]

    assert heads("a") == [("u1", "connection.needs_reauth"), ("u2", "connection.needs_reauth")]
    assert heads("b") == [], "leased, and u1's next waits for its head"
    first = events(store)[0]
    assert store.event_delivered(first.id, "a", now=NOW)
    assert heads("b") == [("u1", "connection.recovered")]
    assert store.event_counts().pending == 2


def test_spooled_tokens_issued_after_a_grant_was_marked_dead_recover_it(store: Store) -> None:
    before = NOW - timedelta(minutes=10)
    store.upsert_connections([tokens("u1"), tokens("u2")], before)
    kill(store, "u1")
    kill(store, "u2")

    def apply(user: str, issued: datetime) -> bool:
        (conn,) = store.iter_connections(Filters(users=(user,)))
        return (
            store.apply_spooled(
                conn.id,
                user,
                "discord",
                access_token_enc=f"enc-a-{user}-spooled",
                refresh_token_enc=f"enc-r-{user}-spooled",
                expires_at=issued + timedelta(hours=1),
                issued_at=issued,
                now=NOW + timedelta(minutes=5),
            )
            == "applied"
        )

    # u1's tokens were issued after it was marked: the grant lives. u2's before: it stays dead.
    assert apply("u1", NOW + timedelta(minutes=1))
    assert apply("u2", NOW - timedelta(minutes=1))
    found = [(e.type, e.user_id) for e in events(store)]
    assert found == [
        ("connection.needs_reauth", "u1"),
        ("connection.needs_reauth", "u2"),
        ("connection.recovered", "u1"),
    ]
    assert_tokenless(events(store))


def test_what_the_store_keeps_of_an_error_is_a_short_code_and_a_bounded_printable_message(
    store: Store,
) -> None:
    """Whoever built it: a code that is not a short word becomes provider_error, a message loses
    its control and bidirectional characters and is cut to 500, in the row and in the event."""
    store.upsert_connections([tokens("u1"), tokens("u2")], NOW)
    message = "line\none \x1b[31m\u202eevil " + "y" * 900
    store.record_failure(
        leased(store, "u1"),
        "run-1",
        code="not a code\n",
        message=message,
        next_attempt_at=NOW,
        now=NOW,
        grant_generation=1,
    )
    store.mark_needs_reauth(
        leased(store, "u2"),
        "run-1",
        refresh_token_enc="enc-r-u2",
        code="x" * 65,
        message=message,
        now=NOW,
        grant_generation=1,
    )
    rows = {c.user_id: c for c in store.iter_connections(Filters())}
    (event,) = events(store)
    error = event.data["error"]
    assert isinstance(error, dict)
    for code, said in (
        (rows["u1"].last_error_code, rows["u1"].last_error_message),
        (rows["u2"].last_error_code, rows["u2"].last_error_message),
        (error["code"], error["message"]),
    ):
        assert code == "provider_error"
        assert said is not None and len(said) == 500 and said.isprintable()
        assert said.startswith("line one [31mevil yyy")
