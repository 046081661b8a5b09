"""What `data changes` prints: a page of the change feed as one document, or as JSON Lines."""

from __future__ import annotations

from collections.abc import Iterator

from tokensync.output.stdout import Document
from tokensync.store.changes import Change, ChangePage
from tokensync.times import iso


def change_body(change: Change) -> Document:
    """One change: position, op, userId, platform, endpoint, itemKey, data or deletedReason,
    changedAt."""
    body: Document = {
        "position": change.position,
        "op": change.op,
        "userId": change.user_id,
        "platform": change.platform,
        "endpoint": change.endpoint,
        "itemKey": change.item_key,
    }
    if change.op == "upsert":
        body["data"] = change.data
    else:
        body["deletedReason"] = change.deleted_reason
    body["changedAt"] = iso(change.changed_at)
    return body


def changes_document(page: ChangePage) -> Document:
    """{success, changes, next, hasMore}."""
    return {
        "success": True,
        "changes": [change_body(c) for c in page.changes],
        "next": page.next,
        "hasMore": page.has_more,
    }


def change_lines(pages: Iterator[ChangePage]) -> Iterator[Document]:
    """A line per change; the last line also carries `next` and `hasMore` (a line of its own,
    {next, hasMore}, when the last page brought no change)."""
    pending: Document | None = None
    last: ChangePage | None = None
    for page in pages:
        for change in page.changes:
            if pending is not None:
                yield pending
            pending = change_body(change)
        last = page
    if last is None:
        return
    ending: Document = {"next": last.next, "hasMore": last.has_more}
    yield ending if pending is None else {**pending, **ending}
