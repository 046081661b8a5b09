"""What `revocations ingest` prints: the delivery, and what it revoked."""

from __future__ import annotations

from tokensync.output.stdout import Document
from tokensync.revocations.ingest import Ingestion


def ingest_document(done: Ingestion) -> Document:
    """The delivery's source, id and event; whether it was applied before; the connections it
    revoked and the accounts it named that no connection does. Never a token."""
    return {
        "success": True,
        "source": done.source,
        "deliveryId": done.delivery_id,
        "event": done.event,
        "replayed": done.replayed,
        "accounts": done.accounts,
        "unknownAccounts": done.unknown_accounts,
        "revoked": [
            {
                "connectionId": c.connection_id,
                "userId": c.user_id,
                "platform": c.platform,
                "providerUserId": c.provider_user_id,
            }
            for c in done.revoked
        ],
    }
