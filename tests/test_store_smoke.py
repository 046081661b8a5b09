from datetime import UTC, datetime

from tokensync.store import Store


def test_migrated(store: Store) -> None:
    assert store.schema_version() == 1
    assert store.migrate(datetime.now(UTC)) == []
